# Source: https://github.com/jindongwang/Deep-learning-activity-recognition/issues/10
# Bug: an activity-recognition CNN returns F.softmax from forward; the training
#   function feeds it to nn.CrossEntropyLoss.
# Kind: softmax-before-cross-entropy
# Graph: make_model
import torch
import torch.nn.functional as F
from torch import nn


class ActivityNet(nn.Module):
    def __init__(self, channels=9, classes=6):
        super().__init__()
        self.conv = nn.Conv1d(channels, 32, kernel_size=5)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        h = self.pool(F.relu(self.conv(x))).flatten(1)
        return F.softmax(self.fc(h), dim=1)  # expect: NNL101  expect-fx: NNL610


def train(model, loader, epochs=10):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    criterion = nn.CrossEntropyLoss()
    for _ in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()


def make_model():
    batch = (torch.randn(4, 9, 32), torch.tensor([0, 1, 2, 3]))
    return ActivityNet(), batch, nn.CrossEntropyLoss()
