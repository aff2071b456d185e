# Source: https://github.com/4uiiurz1/pytorch-nested-unet/issues/39
# Bug: every conv of the UNet block keeps bias=True although a BatchNorm with
#   affine=True follows and cancels it.
# Kind: bias-before-batchnorm
from torch import nn


class VGGBlock(nn.Module):
    def __init__(self, in_channels=3, middle_channels=16, out_channels=16):
        super().__init__()
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, middle_channels, 3, padding=1)  # expect: NNL403
        self.bn1 = nn.BatchNorm2d(middle_channels)
        self.conv2 = nn.Conv2d(middle_channels, out_channels, 3, padding=1)  # expect: NNL403
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)))
