# Source: https://github.com/yz93/LAVT-RIS/issues/25
# Bug: a gating block zero-initialises the weights of two stacked projections; the
#   first one then never receives a gradient (the reporter's check shows zeros).
# Kind: zero-init-stacked-layers
import torch
from torch import nn


class LanguageGate(nn.Module):
    def __init__(self, dim=10):
        super().__init__()
        self.a_1 = nn.Sequential(nn.Linear(dim, dim), nn.ReLU())
        self.a_2 = nn.Sequential(nn.Linear(dim, dim), nn.Tanh())
        nn.init.zeros_(self.a_1[0].weight)  # expect: NNL201
        nn.init.zeros_(self.a_2[0].weight)

    def forward(self, x):
        return x * self.a_2(self.a_1(x))


def check():
    gate = LanguageGate()
    gate(torch.randn(4, 10)).sum().backward()
    return gate.a_1[0].weight.grad.abs().sum()
