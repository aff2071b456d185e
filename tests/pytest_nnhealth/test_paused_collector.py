"""check() pauses the cyclic garbage collector while it runs and collects the young
generation after each training step (training/memory.PausedCollector)."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref
from typing import Any

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from pytest_nnhealth import check  # noqa: E402
from pytest_nnhealth.training.memory import PausedCollector  # noqa: E402


class Cycle:
    """An object that only the cyclic collector can free."""

    def __init__(self) -> None:
        self.me = self


class Recording(nn.Linear):
    """Records, per forward, whether the collector was on and whether the cycle the
    previous forward made is still alive."""

    def __init__(self) -> None:
        super().__init__(8, 4)
        self.enabled: list[bool] = []
        self.previous_alive: list[bool] = []
        self._previous: Any = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.enabled.append(gc.isenabled())
        self.previous_alive.append(
            self._previous is not None and self._previous() is not None
        )
        cycle = Cycle()
        self._previous = weakref.ref(cycle)
        del cycle  # garbage now, but only collectable
        return super().forward(x)


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(4, 8), torch.tensor([0, 1, 2, 3])


def _run(model: Recording) -> None:
    check(model, batch(), loss_fn=F.cross_entropy, steps=4, graph=False)


def test_a_steps_cyclic_garbage_is_freed_after_that_step() -> None:
    seen: list[tuple[bool, bool]] = []

    class Probe(Recording):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = super().forward(x)
            seen.append((self.enabled[-1], self.previous_alive[-1]))
            return out

    assert gc.isenabled()
    _run(Probe())
    assert gc.isenabled()
    # Training steps (4) then the held batch's forward: every one ran paused, and
    # the cycle each made was gone by the next one (collected after its step).
    assert len(seen) == 5
    assert [enabled for enabled, _ in seen] == [False] * 5
    assert [alive for _, alive in seen] == [False] * 5


def test_a_caller_who_disabled_the_collector_keeps_it_disabled() -> None:
    seen: list[bool] = []

    class Probe(Recording):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = super().forward(x)
            seen.append(self.previous_alive[-1])
            return out

    gc.disable()
    try:
        _run(Probe())
        assert not gc.isenabled()
    finally:
        gc.enable()
    # Not collected by check(): the caller decides when cycles are freed.
    assert seen[1:] == [True] * 4


def test_nested_pauses_resume_once_at_the_outermost() -> None:
    with PausedCollector() as outer:
        assert not gc.isenabled()
        with PausedCollector() as inner:
            inner.after_step()
            assert not gc.isenabled()
        assert not gc.isenabled()
        assert outer.owner
        assert not inner.owner
    assert gc.isenabled()


# In a fresh interpreter: a test worker carries other tests' objects, and cycles the
# check closes through them (old generations) are not the check's to collect.
LEFT_BEHIND = """
import gc
import torch
import torch.nn.functional as F
from torch import nn
from pytest_nnhealth import check
model = nn.Sequential(*[nn.Linear(16, 16) for _ in range(6)])
batch = (torch.randn(8, 16), torch.randint(0, 16, (8,)))
gc.collect()
check(model, batch, loss_fn=F.cross_entropy, steps=3)
print(gc.isenabled())
gc.disable()
print(gc.collect())
"""


def test_check_leaves_no_cyclic_garbage_behind() -> None:
    """The check's own cycles (the graph step's traced graph, the working copy's hook
    closures) are collected when it ends, not by a later full collection in the middle
    of the caller's work, where they would free memory the caller did not expect."""
    done = subprocess.run(
        [sys.executable, "-c", LEFT_BEHIND], capture_output=True, text=True, check=True
    )
    enabled, unreachable = done.stdout.split()
    assert enabled == "True"
    assert int(unreachable) == 0
