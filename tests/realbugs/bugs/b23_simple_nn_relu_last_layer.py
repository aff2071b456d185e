# Source: https://github.com/giotto-ai/giotto-deep/issues/34
# Bug: a simple feed-forward classifier applies its activation after the last
#   linear layer too, and is trained with cross-entropy on that output.
# Kind: activation-on-logits
# Graph: make_model
import torch
import torch.nn.functional as F
from torch import nn


class FFNet(nn.Module):
    def __init__(self, arch=(4, 16, 16, 2)):
        super().__init__()
        self.layers = nn.ModuleList(
            [nn.Linear(a, b) for a, b in zip(arch[:-1], arch[1:])]
        )

    def forward(self, x):
        for layer in self.layers:
            x = F.relu(layer(x))  # expect: NNL107  expect-fx: NNL610
        return x


def train(model, loader):
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for x, y in loader:
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()


def make_model():
    return FFNet(), (torch.randn(3, 4), torch.tensor([0, 1, 1])), nn.CrossEntropyLoss()
