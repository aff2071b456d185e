# Source: https://github.com/itakurah/focal-loss-pytorch/pull/5
# Bug: a binary focal loss takes sigmoid(inputs) and passes the probabilities to
#   F.binary_cross_entropy_with_logits, which applies sigmoid again.
# Kind: sigmoid-before-bce-with-logits
import torch
import torch.nn.functional as F
from torch import nn


class BinaryFocalLoss(nn.Module):
    def __init__(self, gamma=2.0):
        super().__init__()
        self.gamma = gamma

    def forward(self, inputs, targets):
        probs = torch.sigmoid(inputs)  # expect: NNL105
        bce = F.binary_cross_entropy_with_logits(probs, targets, reduction="none")
        p_t = probs * targets + (1 - probs) * (1 - targets)
        return ((1 - p_t) ** self.gamma * bce).mean()
