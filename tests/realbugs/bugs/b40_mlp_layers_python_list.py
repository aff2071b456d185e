# Source: https://github.com/twitter/the-algorithm-ml/pull/136
# Bug: an MLP builds its layers into a Python list attribute, so the optimizer
#   never sees them (the PR swapped in nn.ModuleList).
# Kind: unregistered-submodules
from torch import nn


class Mlp(nn.Module):
    def __init__(self, in_features=32, layer_sizes=(64, 32, 1)):
        super().__init__()
        layers = []
        for size in layer_sizes:
            layers.append(nn.Linear(in_features, size))
            layers.append(nn.ReLU())
            in_features = size
        self.layers = layers  # expect: NNL303

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x
