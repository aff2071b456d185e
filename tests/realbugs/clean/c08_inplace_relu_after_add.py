# Source: https://github.com/pytorch/vision/issues/807
# Near-miss: torchvision's BasicBlock uses ReLU(inplace=True) only on tensors the
#   skip path no longer reads (after BN, and after the residual add): safe.
# Graph: make_model
import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, planes=8):
        super().__init__()
        self.conv1 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)

    def forward(self, x):
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        out += identity
        out = self.relu(out)
        return out


def make_model():
    return BasicBlock(), (torch.randn(2, 8, 5, 5),)
