# Source: https://github.com/GengDavid/pytorch-cpn/issues/45
# Bug: a Bottleneck block widens to planes * 4 channels but adds the unprojected
#   input (inplanes channels) when no downsample is given: 512 vs 256 at the add.
# Kind: residual-width-mismatch
# Graph: make_model
import torch
from torch import nn


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes=256, planes=128, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            residual = self.downsample(x)
        out += residual  # expect: NNL301  expect-fx: NNL611
        return self.relu(out)


def make_model():
    return Bottleneck(), (torch.randn(2, 256, 4, 4),)
