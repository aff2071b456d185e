# Source: https://github.com/CoinCheung/pytorch-loss/issues/10
# Near-miss: a focal loss computes torch.sigmoid(logits) only for the modulating
#   weight; BCEWithLogitsLoss itself receives the raw logits (correct).
import torch
from torch import nn


class FocalLoss(nn.Module):
    def __init__(self, alpha=0.25, gamma=2.0):
        super().__init__()
        self.alpha, self.gamma = alpha, gamma
        self.crit = nn.BCEWithLogitsLoss(reduction="none")

    def forward(self, logits, label):
        with torch.no_grad():
            alpha = torch.where(label == 1, self.alpha, 1 - self.alpha)
        probs = torch.sigmoid(logits)
        pt = torch.where(label == 1, probs, 1 - probs)
        ce_loss = self.crit(logits, label.float())
        return (alpha * (1 - pt) ** self.gamma * ce_loss).mean()
