# Source: https://github.com/luigibonati/mlcolvar/pull/205
# Bug: a feed-forward block applies dropout before batch normalisation, so the
#   normalisation statistics are computed on dropped-out activations.
# Kind: dropout-before-batchnorm
from torch import nn


class FeedForward(nn.Module):
    def __init__(self, layers=(8, 32, 32, 2), dropout=0.1):
        super().__init__()
        modules = []
        for i in range(len(layers) - 2):
            modules.append(nn.Linear(layers[i], layers[i + 1]))
            modules.append(nn.Dropout(p=dropout))  # expect: NNL404
            modules.append(nn.BatchNorm1d(layers[i + 1]))
            modules.append(nn.ReLU())
        modules.append(nn.Linear(layers[-2], layers[-1]))
        self.nn = nn.Sequential(*modules)

    def forward(self, x):
        return self.nn(x)
