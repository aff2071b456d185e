"""Dead units: the fraction of a ReLU-family layer's units whose output is <= 0 for more
than 95% of the batch, on the statistics steps.

What a "unit" is depends on the output layout: ``(N, F)`` -> feature over the batch;
``(N, T, F)`` -> feature over batch and positions (channels-last sequences; a ``Conv1d``
output ``(N, C, L)`` is read the same way, a known approximation); ``(N, C, H, W...)``
-> channel over batch and space. Only modules (``nn.ReLU``, ``nn.ReLU6``) can be hooked;
``F.relu`` inside a forward is invisible here. Counting uses ``sign`` and a float sum
(boolean reductions are ~5x slower on CPU).
"""

from __future__ import annotations

import functools
import math
from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.judge.records import RunResult
from pytest_nnhealth.probes.activations import leading_samples, unit_dims
from pytest_nnhealth.probes.base import (
    Probe,
    Series,
    StepValues,
    without_unmeasured,
)

RELU_FAMILY: tuple[type[nn.Module], ...] = (nn.ReLU, nn.ReLU6)
DEAD_BATCH_FRACTION = 0.95


def units_matrix(output: torch.Tensor) -> torch.Tensor | None:
    """Rows = samples, columns = units (see the module docstring); copies for >= 4-d."""
    if output.dim() < 2:
        return None
    if output.dim() == 2:
        return output
    if output.dim() == 3:
        return output.reshape(-1, output.shape[-1])
    return output.movedim(1, -1).reshape(-1, output.shape[1])


def pooled(output: torch.Tensor) -> bool:
    """An (N, C, 1, ..., 1) output: a global pooling (squeeze-excitation paths, heads)
    or what follows it. Its rows differ only as much as the samples' averages do, which
    for a synthetic batch is ~1/sqrt(H*W) of the per-position spread: the statistic
    would measure the batch, not the model (docs/health/rank.md, dead_units.md)."""
    return output.dim() >= 4 and all(size == 1 for size in output.shape[2:])


def dead_fraction(output: torch.Tensor) -> torch.Tensor | None:
    fractions = unit_fractions(output)
    return None if fractions is None else fractions[0]


def unit_fractions(output: torch.Tensor) -> torch.Tensor | None:
    """[dead, always on]: fractions of units off for > 95% of the batch, and on for
    > 95% of it. Both high together means the units are all-or-nothing over the batch:
    every sample sits in the same linear region (aligned rows), not dying units."""
    dims = unit_dims(output)
    if dims is None or output.numel() == 0 or pooled(output):
        return None
    x = leading_samples(output.detach())
    # ReLU-family outputs are >= 0, so sign() is the "active" indicator.
    active = torch.sign(x).sum(dim=dims, dtype=torch.float32)
    samples = shape_counts(x.shape)[0]
    dead = (active < (1 - DEAD_BATCH_FRACTION) * samples).float().mean()
    on = (active > DEAD_BATCH_FRACTION * samples).float().mean()
    return torch.stack([dead, on])


def samples_per_unit(output: torch.Tensor) -> int:
    """How many values each unit's verdict rests on (batch, and positions or space)."""
    if output.dim() < 2 or output.numel() == 0:
        return 0
    return leading_samples(output).numel() // units_of(output)


def units_of(output: torch.Tensor) -> int:
    """How many units the fractions count (features, or channels for >= 4-d)."""
    x = leading_samples(output)
    return int(x.shape[-1] if x.dim() <= 3 else x.shape[1])


@functools.lru_cache(maxsize=1024)
def shape_counts(shape: torch.Size) -> tuple[int, int]:
    """(``samples_per_unit``, ``units_of``) of a tensor of this shape: functions of
    the shape alone, and the same few shapes come back every sampled step (each
    call walked ``leading_samples`` again, in Python)."""
    probe = torch.empty(shape, device="meta")
    return samples_per_unit(probe), units_of(probe)


def same_for_every_sample(output: torch.Tensor) -> torch.Tensor:
    """Whether each unit has one value at every sample (and position) the fractions
    count, not all zero (a device bool, no sync): then the input was the same
    everywhere, as RAFT's first refinement reads a zero flow, and each unit sits in
    one region by design. An all-zero output, every unit dead, is measured; so is a
    conv output of a batch of identical images, which still varies over space."""
    x = leading_samples(output.detach())
    dims = unit_dims(x)
    if dims is None or x.shape[0] < 2:
        return torch.zeros((), dtype=torch.bool, device=output.device)
    first = x
    for dim in dims:
        first = first.narrow(dim, 0, 1)
    return (x == first).all() & first.ne(0).any()


def measured_fractions(output: torch.Tensor) -> torch.Tensor | None:
    """``unit_fractions``, NaN (not measured) where ``same_for_every_sample``."""
    values = unit_fractions(output)
    if values is None:
        return None
    return torch.where(same_for_every_sample(output), math.nan, values)


def _worst_measured(previous: float, value: float) -> float:
    """A module called several times in a step: its worst measured call (NaN marks a
    call that was not measured)."""
    if math.isnan(value):
        return previous
    return value if math.isnan(previous) else max(previous, value)


class DeadUnitProbe(Probe):
    def __init__(self) -> None:
        self.values = StepValues(combine=_worst_measured)
        self.samples: dict[str, int] = {}  # fewest samples per unit seen, per module
        self.units: dict[str, int] = {}  # fewest units counted, per module

    def attach_step(self, stack: ExitStack) -> None:
        if not self.ctx.stat_step:
            return
        for name, module in self.ctx.named_modules:
            if isinstance(module, RELU_FAMILY):
                self.ctx.hub.watch(module, self._hook(name))

    def _hook(self, name: str) -> Any:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            if isinstance(output, torch.Tensor):
                values = measured_fractions(output)
                if values is not None:
                    step = self.ctx.step
                    self.values.add(Q.DEAD_FRACTION, name, step, values[0])
                    self.values.add(Q.ALWAYS_ON_FRACTION, name, step, values[1])
                    count, units = shape_counts(output.shape)
                    self.samples[name] = min(self.samples.get(name, count), count)
                    self.units[name] = min(self.units.get(name, units), units)

        return hook

    def series(self) -> Series:
        # NaN: no call of that step was measured (same_for_every_sample).
        return without_unmeasured(self.values.to_series(self.ctx.steps))

    def record(self, result: RunResult) -> None:
        result.dead_samples = dict(self.samples)
        result.dead_units = dict(self.units)
