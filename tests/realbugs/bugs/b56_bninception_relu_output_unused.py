# Source: https://github.com/Cadene/pretrained-models.pytorch/issues/90
# Bug: an Inception block computes the ReLU of a branch into a variable that is
#   never used; the concatenation takes the pre-activation tensor instead.
# Kind: discarded-module-output
# Source-miss: the discarded value is assigned to a name that is never read; the
#   source rule judges only call statements whose value is dropped outright.
# Graph-miss: the ReLU has no parameters, so no graph rule can see it unused.
import torch
from torch import nn


class InceptionBlock(nn.Module):
    def __init__(self, cin=16):
        super().__init__()
        self.b1_conv = nn.Conv2d(cin, 8, 1)
        self.b1_bn = nn.BatchNorm2d(8)
        self.b1_relu = nn.ReLU(inplace=False)
        self.b2_conv = nn.Conv2d(cin, 8, 3, padding=1)
        self.b2_bn = nn.BatchNorm2d(8)
        self.b2_relu = nn.ReLU(inplace=False)

    def forward(self, x):
        b1_bn_out = self.b1_bn(self.b1_conv(x))
        b1_relu_out = self.b1_relu(b1_bn_out)  # expect: NNL304
        b2_out = self.b2_relu(self.b2_bn(self.b2_conv(x)))
        return torch.cat([b1_bn_out, b2_out], dim=1)
