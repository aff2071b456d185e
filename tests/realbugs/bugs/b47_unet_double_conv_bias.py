# Source: https://github.com/milesial/Pytorch-UNet/pull/325
# Bug: the UNet double convolution's Conv2d layers have a bias right before
#   BatchNorm2d (the PR set bias=False).
# Kind: bias-before-batchnorm
from torch import nn


class DoubleConv(nn.Module):
    def __init__(self, in_channels=3, out_channels=32, mid_channels=None):
        super().__init__()
        mid_channels = mid_channels or out_channels
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, kernel_size=3, padding=1),  # expect: NNL403
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, out_channels, kernel_size=3, padding=1),  # expect: NNL403
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        return self.double_conv(x)
