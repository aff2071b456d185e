# Source: https://discuss.pytorch.org/t/cross-entropy-loss-is-not-decreasing/43814/16
# Bug: an MNIST MLP applies softmax in forward and is trained with
#   nn.CrossEntropyLoss; the loss sits at 2.30 (the forum answer's first fix).
# Kind: softmax-before-cross-entropy
# Graph: make_model
import torch
import torch.nn.functional as F
from torch import nn


class Network(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(784, 128)
        self.output = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.hidden(x))
        x = F.softmax(self.output(x), dim=1)  # expect: NNL101  expect-fx: NNL610
        return x


def make_model():
    model = Network()
    return model, (torch.randn(2, 784), torch.tensor([3, 7])), nn.CrossEntropyLoss()


def run(loader):
    model, _, criterion = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    for images, labels in loader:
        loss = criterion(model(images.view(images.shape[0], -1)), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
