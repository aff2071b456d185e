"""Model classes for the calibration zoo (``bench/zoo.py``).

Each class is a small, CPU-sized version of a real architecture or of a real bug. Module
names matter: the zoo's ``expected_module`` refers to ``model.named_modules()`` names,
so the layouts here are kept stable.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def mlp(widths: list[int], act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """``Linear, act, Linear, act, ..., Linear``; the activation after ``net[2*i]``
    is ``net[2*i + 1]``."""
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(zip(widths, widths[1:], strict=False)):
        layers.append(nn.Linear(fan_in, fan_out))
        if index < len(widths) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


class MLP(nn.Module):
    """A Sequential held as ``self.net`` so module names read ``net.<i>``."""

    def __init__(self, widths: list[int], act: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        self.net = mlp(widths, act)

    def linear(self, index: int) -> nn.Linear:
        layer = self.net[index]
        assert isinstance(layer, nn.Linear), f"net.{index} is {type(layer).__name__}"
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class LogFeatures(nn.Module):
    """``log`` of ReLU features without an epsilon: ``log(0) = -inf`` is born here."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(x)


class DistanceFeature(nn.Module):
    """Appends each sample's mean Euclidean distance to the batch, computed with
    ``sqrt(sum(diff**2))``: finite in forward, but the diagonal distances are exactly 0
    and ``sqrt``'s derivative there is infinite, so the first non-finite value appears
    in *backward*, at this module (``torch.cdist`` had the same bug)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        distance = ((x[:, None] - x[None]) ** 2).sum(-1).sqrt()
        return torch.cat([x, distance.mean(1, keepdim=True)], dim=1)


class DetachedBranch(nn.Module):
    """A trunk plus an auxiliary branch whose output is ``.detach()``ed: the branch's
    parameters never receive a gradient."""

    def __init__(self, d_in: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.trunk = mlp([d_in, hidden, classes])
        self.branch = mlp([d_in, hidden, classes])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x) + self.branch(x).detach()


class PlainListMLP(nn.Module):
    """Hidden layers kept in a plain Python list: they run in forward, but their
    parameters are not registered, so no optimizer ever sees them."""

    def __init__(self, d_in: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.inp = nn.Linear(d_in, hidden)
        self.hidden = [nn.Linear(hidden, hidden) for _ in range(2)]
        self.out = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.inp(x))
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return self.out(x)


class ResidualBlock(nn.Module):
    """Pre-LN residual MLP block, ``x + fc2(relu(fc1(norm(x))))``."""

    def __init__(self, width: int, depth: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(width, width)
        # Scale the branch so the residual stream's variance grows ~linearly, not
        # exponentially, with depth (GPT-2's 1/sqrt(2N) rule).
        with torch.no_grad():
            self.fc2.weight.mul_(1 / math.sqrt(2 * depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(self.act(self.fc1(self.norm(x))))


class ResidualMLP(nn.Module):
    def __init__(self, d_in: int, width: int, classes: int, depth: int) -> None:
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        blocks = (ResidualBlock(width, depth) for _ in range(depth))
        self.blocks = nn.Sequential(*blocks)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.blocks(self.inp(x))))


class SmallCNN(nn.Module):
    """Two conv stages (optionally with BatchNorm), global average pool, linear head."""

    def __init__(self, channels: int, classes: int, batchnorm: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for fan_in, fan_out in ((3, channels), (channels, channels)):
            layers.append(nn.Conv2d(fan_in, fan_out, 3, padding=1, bias=not batchnorm))
            if batchnorm:
                layers.append(nn.BatchNorm2d(fan_out))
            layers.append(nn.ReLU())
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(channels, classes)

    def conv(self, index: int) -> nn.Conv2d:
        layer = self.features[index]
        assert isinstance(layer, nn.Conv2d), f"features.{index} is not a Conv2d"
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)).flatten(1))


class SelfAttention(nn.Module):
    """Multi-head self-attention with an explicit softmax and a key-padding mask."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.heads, -1).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-1, -2) / math.sqrt(dim // self.heads)
        # A sequence that is entirely padding masks every key of its rows: softmax over
        # all -inf is NaN. That is the bug the "masked" zoo case reproduces.
        scores = scores.masked_fill(pad[:, None, None, :], float("-inf"))
        out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, length, dim)
        return self.proj(out)


class Block(nn.Module):
    """Pre-LN transformer block."""

    def __init__(self, dim: int, heads: int, layers: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        out = nn.Linear(4 * dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), out)
        for proj in (self.attn.proj, out):
            nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * layers))

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), pad)
        return x + self.mlp(self.ln2(x))


class TinyLM(nn.Module):
    """GPT-2-style pre-LN encoder over tokens; token 0 is padding (masked as a key)."""

    def __init__(self, vocab: int, dim: int, heads: int, layers: int, length: int):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(length, dim)
        self.blocks = nn.ModuleList(Block(dim, heads, layers) for _ in range(layers))
        self.ln_f = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)
        for emb in (self.tok, self.pos):
            nn.init.normal_(emb.weight, std=0.02)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        pad = tokens == 0
        x = self.tok(tokens) + self.pos(torch.arange(tokens.shape[1]))
        for block in self.blocks:
            x = block(x, pad)
        return self.head(self.ln_f(x)).flatten(0, 1)


class FrozenEmbeddingClassifier(nn.Module):
    """A pretrained (frozen) embedding, mean-pooled, with a trainable MLP head."""

    def __init__(self, vocab: int, dim: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.emb.weight.requires_grad_(False)
        self.head = mlp([dim, hidden, classes])

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.emb(tokens).mean(1))
