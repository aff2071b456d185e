# Source: https://github.com/Turoad/lanedet/issues/32
# Bug: a lane-existence head ends in sigmoid and the lane loss applies
#   nn.BCEWithLogitsLoss to it (sigmoid applied twice).
# Kind: sigmoid-before-bce-with-logits
# Graph: make_model
import torch
from torch import nn


class ExistHead(nn.Module):
    def __init__(self, channels=8, lanes=4):
        super().__init__()
        self.conv = nn.Conv2d(channels, 5, 1)
        self.pool = nn.AdaptiveAvgPool2d((2, 4))
        self.fc9 = nn.Linear(40, 32)
        self.fc10 = nn.Linear(32, lanes)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv(x))).flatten(1)
        x = torch.relu(self.fc9(x))
        return torch.sigmoid(self.fc10(x))  # expect: NNL105  expect-fx: NNL610


class LaneSeg(nn.Module):
    def __init__(self):
        super().__init__()
        self.exist = ExistHead()
        self.criterion = nn.BCEWithLogitsLoss()

    def loss(self, features, exist_target):
        return self.criterion(self.exist(features), exist_target)


def make_model():
    batch = (torch.randn(2, 8, 16, 16), torch.ones(2, 4))
    return ExistHead(), batch, nn.BCEWithLogitsLoss()
