# Source: https://coderoad.ru/58050105/почему-точность-уменьшается-при-использовании-активации-ReLu-после-линейных
# Bug: a Fashion-MNIST CNN applies the shared ReLU module after its last linear
#   layer; with CrossEntropyLoss the accuracy drops from 90% to 50%.
# Kind: activation-on-logits
# Graph: make_model
import torch
from torch import nn


class FashionMnistClassifier(nn.Module):
    def __init__(self, n_inputs=1, n_out=10):
        super().__init__()
        self.cnn1 = nn.Conv2d(n_inputs, 32, kernel_size=5)
        self.cnn2 = nn.Conv2d(32, 64, kernel_size=5)
        self.fc1 = nn.Linear(64 * 4 * 4, 100)
        self.fc2 = nn.Linear(100, n_out)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(kernel_size=2)

    def forward(self, x):
        out = self.pool(self.relu(self.cnn1(x)))
        out = self.pool(self.relu(self.cnn2(out)))
        out = self.relu(self.fc1(out.view(out.size(0), -1)))
        out = self.fc2(out)
        out = self.relu(out)  # expect: NNL107  expect-fx: NNL610
        return out


def fit(loader):
    model = FashionMnistClassifier(1, 10)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    criterion = nn.CrossEntropyLoss()
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()


def make_model():
    batch = (torch.randn(2, 1, 28, 28), torch.tensor([2, 5]))
    return FashionMnistClassifier(), batch, nn.CrossEntropyLoss()
