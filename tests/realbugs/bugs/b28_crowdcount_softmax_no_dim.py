# Source: https://github.com/svishwa/crowdcount-cascaded-mtl/issues/22
# Bug: a density-classification branch calls F.softmax(score) without dim; the
#   reporter could not tell which dimension was meant.
# Kind: softmax-without-dim
import torch.nn.functional as F
from torch import nn


class DensityClassifier(nn.Module):
    def __init__(self, features=64, levels=10):
        super().__init__()
        self.fc = nn.Linear(features, levels)

    def forward(self, x):
        density_cls_score = self.fc(x)
        density_cls_prob = F.softmax(density_cls_score)  # expect: NNL108
        return density_cls_prob, density_cls_score
