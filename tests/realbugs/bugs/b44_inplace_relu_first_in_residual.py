# Source: https://github.com/pytorch/pytorch/issues/15428
# Bug: a residual block's branch starts with ReLU(inplace=True), which overwrites x
#   that the identity shortcut adds afterwards (backward fails on the in-place op).
# Kind: inplace-activation-on-skip
# Graph: make_model
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, in_chan=8, out_chan=8, stride=1):
        super().__init__()
        self.stride, self.in_chan, self.out_chan = stride, in_chan, out_chan
        self.residual = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.Conv2d(in_chan, out_chan, 3, stride, 1),
            nn.BatchNorm2d(out_chan),
        )
        self.shortcut = nn.Conv2d(in_chan, out_chan, 1, stride)

    def forward(self, x):
        resd = self.residual(x)  # expect: NNL305  expect-fx: NNL617
        if not self.stride == 1 or not self.in_chan == self.out_chan:
            sc = self.shortcut(x)
        else:
            sc = x
        return resd + sc


def make_model():
    return Block(), (torch.randn(2, 8, 6, 6),)
