# Source: https://github.com/hunkim/PyTorchZeroToAll/pull/4
# Bug: a tutorial MNIST network applies F.relu to its final layer output and feeds
#   it to nn.CrossEntropyLoss (the PR "Remove relu in the final layer").
# Kind: activation-on-logits
# Graph: make_model
import torch
import torch.nn.functional as F
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(784, 520)
        self.l2 = nn.Linear(520, 320)
        self.l3 = nn.Linear(320, 10)

    def forward(self, x):
        x = x.view(-1, 784)
        x = F.relu(self.l1(x))
        x = F.relu(self.l2(x))
        return F.relu(self.l3(x))  # expect: NNL107  expect-fx: NNL610


model = Net()
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)


def train(train_loader):
    for data, target in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(data), target)
        loss.backward()
        optimizer.step()


def make_model():
    return Net(), (torch.randn(2, 1, 28, 28), torch.tensor([1, 8])), nn.CrossEntropyLoss()
