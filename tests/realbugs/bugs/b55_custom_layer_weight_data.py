# Source: https://github.com/d2l-ai/d2l-en/pull/2600
# Bug: a custom linear layer multiplies by self.weight.data and adds self.bias.data
#   in forward, so no gradient reaches its parameters.
# Kind: data-in-forward
import torch
import torch.nn.functional as F
from torch import nn


class MyLinear(nn.Module):
    def __init__(self, in_units=5, units=3):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_units, units))
        self.bias = nn.Parameter(torch.randn(units))

    def forward(self, X):
        linear = torch.matmul(X, self.weight.data) + self.bias.data  # expect: NNL502
        return F.relu(linear)
