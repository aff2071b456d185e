# Source: https://github.com/wandb/senpai/pull/3251
# Near-miss: a Transolver-style block is pre-LN (norm1 before attention, norm2
#   before the MLP) and the stack ends in a final LayerNorm before the output.
# Graph: make_model
import torch
from torch import nn


class TransformerBlock(nn.Module):
    def __init__(self, dim=32, heads=4):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attention(h, h, h, need_weights=False)[0]
        x = x + self.mlp(self.norm2(x))
        return x


class Transolver(nn.Module):
    def __init__(self, depth=8, dim=32, out_dim=3):
        super().__init__()
        self.blocks = nn.ModuleList([TransformerBlock(dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, out_dim)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def make_model():
    return Transolver(), (torch.randn(2, 6, 32),)
