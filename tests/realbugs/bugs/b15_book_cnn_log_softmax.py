# Source: https://github.com/keon/3-min-pytorch/issues/19
# Bug: a book's CNN returns F.log_softmax(x, dim=1) and its train function computes
#   F.cross_entropy on the output (the author agreed it should return logits).
# Kind: log-softmax-before-cross-entropy
# Graph: make_model
import torch
import torch.nn.functional as F
from torch import nn


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.drop = nn.Dropout2d()
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.drop(self.conv2(x)), 2))
        x = x.view(-1, 320)
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)  # expect: NNL102  expect-fx: NNL610


def train(model, train_loader, optimizer):
    model.train()
    for data, target in train_loader:
        optimizer.zero_grad()
        output = model(data)
        loss = F.cross_entropy(output, target)
        loss.backward()
        optimizer.step()


def make_model():
    batch = (torch.randn(2, 1, 28, 28), torch.tensor([4, 9]))
    return CNN(), batch, F.cross_entropy


if __name__ == "__main__":
    model = CNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    for epoch in range(1, 41):
        train(model, [], optimizer)
