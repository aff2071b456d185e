# Source: https://github.com/osmr/imgclsmob/issues/13
# Bug: an Xception-style unit applies an in-place ReLU module to its input while the
#   identity branch still needs that input, breaking backward.
# Kind: inplace-activation-on-skip
# Graph: make_model
import torch
from torch import nn


class XceptionUnit(nn.Module):
    def __init__(self, channels=8):
        super().__init__()
        self.activ = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        identity = x
        x = self.activ(x)  # expect: NNL305  expect-fx: NNL617
        x = self.bn(self.conv(x))
        return x + identity


def make_model():
    return XceptionUnit(), (torch.randn(2, 8, 5, 5),)
