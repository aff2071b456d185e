# Source: https://github.com/MicrosoftDocs/ml-basics/issues/48
# Bug: a course notebook builds a classifier whose nn.Sequential ends in
#   nn.Softmax and trains it with nn.CrossEntropyLoss.
# Kind: softmax-before-cross-entropy
# Graph: make_model
import torch
from torch import nn


class PenguinNet(nn.Module):
    def __init__(self, features=4, hidden=10, classes=3):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, classes),
            nn.Softmax(dim=1),  # expect: NNL101
        )

    def forward(self, x):
        return self.net(x)  # expect-fx: NNL610


def train(model, loader, optimizer):
    loss_criteria = nn.CrossEntropyLoss()
    model.train()
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_criteria(model(x), y)
        loss.backward()
        optimizer.step()


def make_model():
    return PenguinNet(), (torch.randn(3, 4), torch.tensor([0, 1, 2])), nn.CrossEntropyLoss()
