"""Shared set-up for the plugin's pytester tests: a tiny project whose health checks
take well under a second (5 steps, no graph mode)."""

from __future__ import annotations

import pytest

# A tiny classifier that learns quickly, and one whose ReLU units are all dead.
TINY_MODELS = """
import torch
from torch import nn


def batch():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=generator)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    return x, y


def adam(params):
    return torch.optim.Adam(params, lr=0.02)


class TinyNet(nn.Module):
    def __init__(self, dead=False):
        super().__init__()
        torch.manual_seed(0)
        self.fc1 = nn.Linear(4, 16)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(16, 3)
        if dead:
            nn.init.constant_(self.fc1.bias, -20.0)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def make_tiny():
    return TinyNet(), batch(), nn.CrossEntropyLoss()


def make_dead():
    return {"model": TinyNet(dead=True), "batch": batch(),
            "loss_fn": nn.CrossEntropyLoss(), "optimizer": adam}
"""

PYPROJECT = """
[tool.pytest.ini_options]
pythonpath = ["."]
nnhealth_steps = 5
nnhealth_graph = false
nnhealth_lint = {lint}
{ini}
[tool.nnhealth]
{table}
"""


def make_project(
    pytester: pytest.Pytester, ini: str = "", table: str = "", lint: bool = False
) -> None:
    """tiny_models.py and a pyproject.toml (lint items off unless asked for)."""
    pytester.makepyfile(tiny_models=TINY_MODELS)
    text = PYPROJECT.format(ini=ini, table=table, lint=str(lint).lower())
    pytester.makepyprojecttoml(text)
