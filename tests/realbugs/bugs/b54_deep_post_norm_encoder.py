# Source: https://github.com/pytorch/pytorch/issues/55270
# Bug: a deep (12-layer) transformer uses post-norm residual blocks,
#   norm(x + sublayer(x)), which the reporter found unstable to train at depth.
# Kind: post-ln-in-deep-stack
# Graph: make_model
import torch
from torch import nn


class PostNormLayer(nn.Module):
    def __init__(self, d_model=32, heads=4):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, heads, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(d_model, 64), nn.ReLU(), nn.Linear(64, d_model))
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, x):
        x = self.norm1(x + self.attn(x, x, x, need_weights=False)[0])  # expect: NNL401
        x = self.norm2(x + self.ff(x))
        return x


class Encoder(nn.Module):
    def __init__(self, depth=12, d_model=32):
        super().__init__()
        self.layers = nn.ModuleList([PostNormLayer(d_model) for _ in range(depth)])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def make_model():
    return Encoder(), (torch.randn(2, 5, 32),)
