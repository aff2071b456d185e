# Source: https://github.com/sauradip/STALE/issues/16
# Bug: a localisation model keeps a background embedding created with torch.empty
#   and never initialised; training sometimes fails with NaN in DivBackward0.
# Kind: uninitialised-parameter
import torch
from torch import nn


class STALE(nn.Module):
    def __init__(self, dim=512, classes=20):
        super().__init__()
        self.txt_embeddings = nn.Parameter(torch.randn(classes, dim) * 0.02)
        self.bg_embeddings = nn.Parameter(torch.empty(1, dim))  # expect: NNL202

    def forward(self, features):
        text = torch.cat([self.bg_embeddings, self.txt_embeddings], dim=0)
        text = text / text.norm(dim=-1, keepdim=True)
        return features @ text.t()
