# Source: https://github.com/Randl/MobileNetV2-pytorch/issues/5
# Bug: an image classifier ends forward with F.log_softmax and is trained with
#   torch.nn.CrossEntropyLoss in the run script.
# Kind: log-softmax-before-cross-entropy
# Graph: make_model
import torch
import torch.nn.functional as F
from torch import nn


class MobileNetLike(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU6(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        x = self.features(x)
        x = x.view(x.size(0), -1)
        x = self.fc(x)
        return F.log_softmax(x, dim=1)  # expect: NNL102  expect-fx: NNL610


def main(loader):
    model = MobileNetLike()
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for images, targets in loader:
        loss = criterion(model(images), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def make_model():
    batch = (torch.randn(2, 3, 32, 32), torch.tensor([1, 2]))
    return MobileNetLike(), batch, torch.nn.CrossEntropyLoss()
