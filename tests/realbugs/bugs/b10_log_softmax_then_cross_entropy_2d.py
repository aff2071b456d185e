# Source: https://github.com/speedinghzl/Pytorch-Deeplab/issues/2
# Bug: a segmentation loss applies log_softmax to the prediction and then calls a
#   2-D cross-entropy that wraps F.cross_entropy, which applies it again.
# Kind: log-softmax-before-cross-entropy
import torch.nn.functional as F
from torch import nn


class CrossEntropy2d(nn.Module):
    def __init__(self, ignore_label=255):
        super().__init__()
        self.ignore_label = ignore_label

    def forward(self, predict, target):
        return F.cross_entropy(predict, target, ignore_index=self.ignore_label)


def loss_calc(pred, label):
    pred = F.log_softmax(pred, dim=1)  # expect: NNL102
    criterion = CrossEntropy2d()
    return criterion(pred, label)
