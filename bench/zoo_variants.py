"""Model and batch variants used by the zoo's cases (``bench/zoo.py``)."""

from __future__ import annotations

import torch
from torch import nn

from bench import zoo_models as zm
from bench.zoo_build import D_IN, token_batch


def zero_output(model: zm.MLP) -> None:
    nn.init.zeros_(model.linear(-1).weight)
    nn.init.zeros_(model.linear(-1).bias)


def zero_stacked(model: zm.MLP) -> None:
    for index in (2, 4):
        nn.init.zeros_(model.linear(index).weight)
        nn.init.zeros_(model.linear(index).bias)


def log_mlp() -> zm.MLP:
    """``Linear, ReLU, log, Linear``: the log sits at ``net.2``."""
    model = zm.MLP([D_IN, 32, 4])
    model.net.insert(2, zm.LogFeatures())
    return model


def distance_mlp() -> zm.MLP:
    model = zm.MLP([D_IN, 32, 4])
    model.net[2] = nn.Linear(33, 4)
    model.net.insert(2, zm.DistanceFeature())
    return model


def plain_cnn() -> zm.SmallCNN:
    model = zm.SmallCNN(channels=16, classes=4, batchnorm=False)
    with torch.no_grad():
        for conv in (model.conv(0), model.conv(2)):
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            assert conv.bias is not None  # no BatchNorm: the convs keep their bias
            nn.init.zeros_(conv.bias)
    return model


def lm() -> zm.TinyLM:
    return zm.TinyLM(vocab=16, dim=32, heads=2, layers=2, length=8)


def padded_tokens(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    tokens, target = token_batch(seed)
    tokens[0] = 0  # one sequence is all padding: every key of its rows is masked
    return tokens, target


def tagged_tokens(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    tokens, _ = token_batch(seed)
    return tokens, tokens.sum(1) % 4


def dead_cnn() -> zm.SmallCNN:
    model = zm.SmallCNN(channels=16, classes=4, batchnorm=False)
    with torch.no_grad():
        bias = model.conv(0).bias
        assert bias is not None  # no BatchNorm: the convs keep their bias
        nn.init.constant_(bias, -3.0)
    return model
