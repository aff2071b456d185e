# Source: https://github.com/milesial/Pytorch-UNet/pull/325
# Near-miss: the fixed UNet double convolution sets bias=False on every conv that a
#   BatchNorm follows; the final 1x1 output conv keeps its bias (no norm after it).
from torch import nn


class DoubleConv(nn.Module):
    def __init__(self, in_channels=3, out_channels=32):
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )
        self.out = nn.Conv2d(out_channels, 2, kernel_size=1)

    def forward(self, x):
        return self.out(self.double_conv(x))
