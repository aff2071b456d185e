"""check()'s resident memory: freed heap pages handed back after every step, and the
peak reported in ``report.meta["peak_memory_mb"]``."""

from __future__ import annotations

import time
from typing import Any
from unittest import mock

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from test_check_graph_memory import HELD_MB, Hungry  # noqa: E402
from torch import nn  # noqa: E402

from pytest_nnhealth import check  # noqa: E402
from pytest_nnhealth.training import memory, runner  # noqa: E402


def test_check_reports_its_peak_memory_above_the_start() -> None:
    batch = (torch.randn(4, 8), torch.tensor([0, 1, 2, 3]))
    report = check(Hungry(), batch, loss_fn=F.cross_entropy, steps=2, graph=False)
    peak = report.meta["peak_memory_mb"]
    assert isinstance(peak, float)
    assert HELD_MB * 0.9 <= peak < HELD_MB + 300
    small = check(nn.Linear(8, 4), batch, loss_fn=F.cross_entropy, steps=2, graph=False)
    assert 0 <= small.meta["peak_memory_mb"] < HELD_MB * 0.5


def test_the_heap_is_looked_at_after_every_training_step() -> None:
    batch = (torch.randn(4, 8), torch.tensor([0, 1, 2, 3]))
    with mock.patch.object(memory.HeapRelease, "after_step") as after_step:
        report = check(nn.Linear(8, 4), batch, loss_fn=F.cross_entropy, steps=5)
    assert report.steps == 5
    assert after_step.call_count == 5


def test_the_heap_is_released_only_once_it_grew_past_the_first_step() -> None:
    levels = iter([1000.0, 1050.0, 1099.0, 1101.0, 900.0, 1200.0])
    with (
        mock.patch.object(memory, "resident_mb", side_effect=lambda: next(levels)),
        mock.patch.object(memory, "release_free_heap", return_value=True) as release,
    ):
        heap = memory.HeapRelease()
        for _ in range(6):
            heap.after_step()
    # Margin: 10% of the first step's 1000 MB; the level stays the first step's.
    assert release.call_count == 2
    assert heap.released == 2
    assert heap.level_mb == 1000.0


PINNED_HOLES = """
import torch
from pytest_nnhealth.training import memory
from pytest_nnhealth.training.graph_bounds import resident_mb
large, small = [], []
for _ in range(2000):
    large.append(torch.ones(16 * 1024))  # 64 KiB, every page written
    small.append(torch.ones(1))
before = resident_mb()
large.clear()
kept = resident_mb()
released = memory.release_free_heap()
print(released, before, kept, resident_mb(), len(small))
"""


def test_release_returns_heap_holes_pinned_by_small_live_tensors() -> None:
    """The pattern of a probed step: mid-size tensors (on the heap, below malloc's
    mmap threshold) with small tensors allocated between them that stay alive. Freeing
    the large ones leaves holes the heap cannot shrink past; the release hands their
    pages back. In a fresh process: a heap with a history has its own holes."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", PINNED_HOLES], capture_output=True, text=True, check=True
    )
    released, before, kept, after, small = done.stdout.split()
    if released != "True":
        pytest.skip("no glibc heap to trim on this platform")
    assert int(small) == 2000
    assert float(before) - float(kept) < 40  # freed, yet still resident
    assert float(kept) - float(after) > 80  # ~125 MB of holes handed back


def test_peak_memory_sees_a_short_spike() -> None:
    with memory.peak_memory() as usage:
        held = torch.ones(100 * 2**18)  # 100 MB
        time.sleep(0.1)
        del held
    assert usage.peak_mb - usage.start_mb >= 90


def test_no_activation_outlives_its_step_with_every_probe() -> None:
    """Every module output of a step is freed when the step ends: the probes keep
    statistics, never an activation (nor, through a hook, its autograd graph)."""
    import weakref

    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
        nn.Linear(8 * 8 * 8, 16), nn.Tanh(), nn.Linear(16, 4),
    )  # fmt: skip
    outputs: list[weakref.ref[Any]] = []
    alive: list[int] = []

    def keep_ref(module: nn.Module, args: Any, output: Any) -> None:
        outputs.append(weakref.ref(output))

    one_step = runner.one_step

    def step(*args: Any, **kwargs: Any) -> Any:
        loss = one_step(*args, **kwargs)
        alive.append(sum(ref() is not None for ref in outputs))
        outputs.clear()
        return loss

    batch = (torch.randn(16, 3, 8, 8), torch.randint(0, 4, (16,)))
    hook = nn.modules.module.register_module_forward_hook(keep_ref)
    try:
        with mock.patch.object(runner, "one_step", step):
            report = check(model, batch, loss_fn=F.cross_entropy, steps=6, graph=False)
    finally:
        hook.remove()
    assert report.steps == 6
    assert alive == [0] * 6
