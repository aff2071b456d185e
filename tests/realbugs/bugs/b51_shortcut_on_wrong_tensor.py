# Source: https://github.com/TongTong313/rectified-flow/issues/5
# Bug: a residual block applies its 1x1 shortcut projection to the branch output
#   instead of the saved input, so the widths of the two summands disagree.
# Kind: residual-width-mismatch
# Graph: make_model
import torch
from torch import nn


class ResBlock(nn.Module):
    def __init__(self, in_channels=8, out_channels=16):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.norm1 = nn.GroupNorm(4, out_channels)
        self.norm2 = nn.GroupNorm(4, out_channels)
        self.act = nn.SiLU()
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x):
        res = x
        x = self.act(self.norm1(self.conv1(x)))
        x = self.act(self.norm2(self.conv2(x)))
        x = self.shortcut(x)
        return x + res  # expect: NNL301  expect-fx: NNL605


def make_model():
    return ResBlock(), (torch.randn(2, 8, 6, 6),)
