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


def warm_up() -> None:
    """Run one tiny health check (graph mode included) and one lint before any pytester
    run.

    torch imports parts of itself lazily (the optimizers' first step imports
    torch._dynamo); pytester's in-process runs delete modules first imported during a
    run, and torch cannot import them twice; libcst classes imported twice no longer
    match each other. Importing this module loads both once, before any in-process run.
    """
    from nnlint.api import lint_text
    from nnlint.config import LintConfig
    from nnlint.output.text import render_text

    source = (
        "import torch.nn.functional as F\nF.cross_entropy(F.softmax(x, dim=1), y)\n"
    )
    try:
        render_text(lint_text(source, "warm_up.py", LintConfig()))
    except Exception:  # noqa: BLE001 - only preloading; the lint tests show real errors
        pass
    import torch
    from torch import nn

    from pytest_nnhealth.check import check

    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2))
    batch = (torch.randn(8, 2), torch.tensor([0, 1] * 4))
    check(model, batch, loss_fn=nn.CrossEntropyLoss(), steps=2)


warm_up()
