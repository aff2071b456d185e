"""Histograms of log10 |x| of leaf-module outputs (``act_hist``) and of each
parameter-owning module's gradients (``grad_hist``), on the deep-statistics steps.

Fixed bins: 24 bins of half a decade from 1e-8 to 1e4; values outside are clamped into
the end bins, so exact zeros count in the first bin. Each tensor contributes a strided
sample of at most ~4096 values (the shape of the distribution is what matters).

A hook only keeps that sample's absolute values (a copy of at most 8191 values, 32 KiB
in float32, never the tensor); after the step every sample of the step is binned at
once (``binned``): one ``log10``, one clamp and one ``bincount`` for the step instead
of a ``log10``, a clamp and a ``histc`` per tensor (~110 tensors a deep step on BERT,
~320 on shufflenet). The bins are ``histc``'s own (``bin_index``), so the counts are
the same.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.judge.records import Histogram, RunResult
from pytest_nnhealth.probes.base import Probe, tensor_leaves

LOW, HIGH, BINS = -8.0, 4.0, 24
MAX_VALUES = 4096
EDGES = [LOW + i * (HIGH - LOW) / BINS for i in range(BINS + 1)]


def log_histogram(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Counts of one histogram of ``tensors`` together (tests, one-off use)."""
    device = tensors[0].device
    return binned([sample(t).to(device) for t in tensors], [0] * len(tensors), 1)[0]


def sample(tensor: torch.Tensor) -> torch.Tensor:
    """|x| of a strided sample of the tensor, in float32: a new tensor of at most
    ``2 * MAX_VALUES - 1`` values (stride ``numel // MAX_VALUES``)."""
    values = tensor.detach().reshape(-1)
    if values.numel() > MAX_VALUES:  # a strided sample: the shape is what matters
        values = values[:: values.numel() // MAX_VALUES]
    return values.abs().float()


def bin_index(logs: torch.Tensor) -> torch.Tensor:
    """``torch.histc(logs, BINS, LOW, HIGH)``'s bin of each value of ``logs`` (already
    clamped to [LOW, HIGH]): its CPU kernel computes ``(x - LOW) * BINS / (HIGH -
    LOW)`` in the input's type, truncates, and puts ``x == HIGH`` in the last bin."""
    position = logs.sub(LOW).mul_(BINS).div_(HIGH - LOW)
    return position.to(torch.long).clamp_(max=BINS - 1)


def binned(samples: list[torch.Tensor], groups: list[int], count: int) -> torch.Tensor:
    """(count, BINS) float32 counts: ``samples[i]`` (all on one device) counts in row
    ``groups[i]``. NaN counts nowhere (as in ``histc``); -inf (a zero) goes to the
    first bin."""
    device = samples[0].device
    logs = torch.cat(samples).log10_().clamp_(LOW, HIGH)
    lengths = torch.tensor([s.numel() for s in samples], device=device)
    rows = torch.tensor(groups, device=device).repeat_interleave(lengths)
    index = rows * BINS + bin_index(logs)
    # NaN has no bin: it goes to one slot past the last row, dropped below.
    index = torch.where(logs.isnan(), count * BINS, index)
    counts = torch.bincount(index, minlength=count * BINS + 1)[: count * BINS]
    return counts.reshape(count, BINS).float()


class HistogramProbe(Probe):
    def __init__(self) -> None:
        # (quantity, module) -> [(step, counts)]
        self._counts: dict[tuple[str, str], list[tuple[int, torch.Tensor]]] = {}
        # This step's samples and the (quantity, module) each one counts for.
        self._samples: list[torch.Tensor] = []
        self._keys: list[tuple[str, str]] = []

    def attach_step(self, stack: ExitStack) -> None:
        if not self.ctx.deep_step:
            return
        for name, module in self.ctx.named_modules:
            if name and not any(True for _ in module.children()):
                self.ctx.hub.watch(module, self._hook(name))

    def _hook(self, name: str) -> Any:
        key = (Q.ACT_HIST, name)

        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            leaves = [t for t in tensor_leaves(output) if not t.is_complex()]
            if leaves and all(t.numel() for t in leaves):
                self._keep(key, leaves)

        return hook

    def _keep(self, key: tuple[str, str], tensors: list[torch.Tensor]) -> None:
        for tensor in tensors:
            self._samples.append(sample(tensor))
            self._keys.append(key)

    def start_step(self) -> None:
        self._samples, self._keys = [], []

    def after_backward(self) -> None:
        if not self.ctx.deep_step:
            return
        for pm in self.ctx.param_modules:
            grads = [
                p.grad for p in pm.params if p.grad is not None and not p.grad.is_sparse
            ]
            if grads:
                self._keep((Q.GRAD_HIST, pm.name), grads)

    def end_step(self) -> None:
        if self._samples:
            self._bin_step()
        self.start_step()

    def _bin_step(self) -> None:
        """Every histogram of the step, one ``binned`` call per device; a module
        called twice in the step has one row for both calls."""
        rows: dict[tuple[str, str], int] = {}
        by_device: dict[torch.device, list[int]] = {}
        pairs = zip(self._keys, self._samples, strict=True)
        for index, (key, values) in enumerate(pairs):
            rows.setdefault(key, len(rows))
            by_device.setdefault(values.device, []).append(index)
        total: torch.Tensor | None = None
        for indices in by_device.values():
            counts = binned(
                [self._samples[i] for i in indices],
                [rows[self._keys[i]] for i in indices],
                len(rows),
            )
            total = counts if total is None else total + counts.to(total.device)
        assert total is not None
        step = self.ctx.step
        for key, row in rows.items():
            self._counts.setdefault(key, []).append((step, total[row]))

    def record(self, result: RunResult) -> None:
        """Onto the rows of measured modules (others have no row to carry them)."""
        for (quantity, name), rows in self._counts.items():
            layer = result.layers.get(name)
            if layer is None:
                continue
            counts = torch.stack([row for _, row in rows]).cpu().tolist()
            steps = [step for step, _ in rows]
            histogram = Histogram(edges=list(EDGES), counts=counts, steps=steps)
            layer.histograms[quantity] = histogram
