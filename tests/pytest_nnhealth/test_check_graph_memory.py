"""The graph step's peak extra memory: measured, reported in ``report.meta``."""

from __future__ import annotations

import time
from typing import Any

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from pytest_nnhealth import check  # noqa: E402
from pytest_nnhealth.training.graph import graph_step  # noqa: E402
from pytest_nnhealth.training.graph_bounds import GraphLimits  # noqa: E402

HELD_MB = 160


class Hungry(nn.Module):
    """Holds a large temporary for a while in forward, as a wide layer would."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x: Any) -> Any:
        held = torch.ones(HELD_MB * 2**18)  # HELD_MB MB of float32, every page written
        time.sleep(0.1)  # several of the watcher's 20 ms samples
        return self.fc(x) + held[:1]


def test_peak_extra_memory_of_the_graph_step_is_measured() -> None:
    batch = (torch.randn(4, 8), torch.tensor([0, 1, 2, 3]))
    step = graph_step(Hungry(), batch, F.cross_entropy, None, GraphLimits())
    assert step.status.startswith("ran:")
    assert step.memory_mb is not None
    assert HELD_MB * 0.9 <= step.memory_mb < HELD_MB + 200


def test_check_reports_the_graph_memory_in_meta() -> None:
    batch = (torch.randn(4, 8), torch.tensor([0, 1, 2, 3]))
    report = check(nn.Linear(8, 4), batch, loss_fn=F.cross_entropy, steps=3)
    assert isinstance(report.meta["graph_memory_mb"], float)
    assert 0 <= report.meta["graph_memory_mb"] < 200
    off = check(nn.Linear(8, 4), batch, loss_fn=F.cross_entropy, steps=3, graph=False)
    assert "graph_memory_mb" not in off.meta


def test_a_step_that_never_copied_the_model_reports_no_memory() -> None:
    step = graph_step(nn.Linear(8, 4), object(), F.cross_entropy, None)
    assert step.status.startswith("skipped:")
    assert step.memory_mb is None
