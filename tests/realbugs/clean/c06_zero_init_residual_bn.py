# Source: https://github.com/pytorch/vision/issues/5709
# Near-miss: ResNet's zero_init_residual sets the last BatchNorm gamma of each
#   residual branch to zero, so every block starts as the identity (intended).
# Graph: make_model
import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, planes=8):
        super().__init__()
        self.conv1 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x
        return self.relu(out)


class TinyResNet(nn.Module):
    def __init__(self, blocks=2, zero_init_residual=True):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.layers = nn.Sequential(*[BasicBlock() for _ in range(blocks)])
        self.fc = nn.Linear(8, 10)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(x.mean(dim=(2, 3)))


def make_model():
    batch = (torch.randn(2, 3, 8, 8), torch.tensor([1, 2]))
    return TinyResNet(), batch, nn.CrossEntropyLoss()
