# Source: https://github.com/pytorch/pytorch/issues/666
# Bug: a network keeps a configurable number of layers in a plain Python list, so
#   they are missing from parameters() and from print(model).
# Kind: unregistered-submodules
from torch import nn


class Net(nn.Module):
    def __init__(self, num_layers=4):
        super().__init__()
        self.layer = nn.Linear(1, 1)
        self.list_of_layers = [nn.Linear(1, 1) for _ in range(num_layers)]  # expect: NNL303

    def forward(self, x):
        x = self.layer(x)
        for layer in self.list_of_layers:
            x = layer(x)
        return x
