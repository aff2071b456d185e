# Source: https://github.com/jadore801120/attention-is-all-you-need-pytorch/pull/17
# Bug: a hand-written layer normalisation takes the mean and std of a
#   (batch, seq_len, d_model) tensor along the sequence axis instead of features.
# Kind: norm-over-wrong-axes
import torch
from torch import nn


class LayerNormalization(nn.Module):
    def __init__(self, d_hid=32, eps=1e-3):
        super().__init__()
        self.eps = eps
        self.a_2 = nn.Parameter(torch.ones(d_hid))
        self.b_2 = nn.Parameter(torch.zeros(d_hid))

    def forward(self, z):
        mu = torch.mean(z, dim=1, keepdim=True)  # expect: NNL402
        sigma = torch.std(z, dim=1, keepdim=True)
        ln_out = (z - mu) / (sigma + self.eps)
        return ln_out * self.a_2 + self.b_2
