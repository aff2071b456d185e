# Source: https://github.com/zijundeng/R3Net/issues/3
# Near-miss: a saliency network returns logits while training (BCEWithLogitsLoss)
#   and applies sigmoid only in eval mode (the maintainer's answer).
# Graph: make_model
import torch
from torch import nn


class SaliencyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.predict = nn.Conv2d(8, 1, 1)

    def forward(self, x):
        out = self.predict(self.body(x))
        if self.training:
            return out
        return torch.sigmoid(out)


def train_step(model, optimizer, images, masks):
    criterion = nn.BCEWithLogitsLoss()
    loss = criterion(model(images), masks)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def make_model():
    batch = (torch.randn(2, 3, 8, 8), torch.ones(2, 1, 8, 8))
    return SaliencyNet(), batch, nn.BCEWithLogitsLoss()
