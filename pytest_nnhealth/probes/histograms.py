"""Histograms of log10 |x| of leaf-module outputs (``act_hist``) and of each
parameter-owning module's gradients (``grad_hist``), on the deep-statistics steps.

Fixed bins: 24 bins of half a decade from 1e-8 to 1e4; values outside are clamped into
the end bins, so exact zeros count in the first bin. Each tensor contributes a strided
sample of at most 4096 values (the shape of the distribution is what matters), so one
small ``histc`` per tensor per sampled step.
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
    counts = _counts(tensors[0])
    for tensor in tensors[1:]:  # most outputs and modules have one tensor: no sum
        counts = counts + _counts(tensor).to(counts.device)
    return counts


def _counts(tensor: torch.Tensor) -> torch.Tensor:
    values = tensor.detach().reshape(-1)
    if values.numel() > MAX_VALUES:  # a strided sample: the shape is what matters
        values = values[:: values.numel() // MAX_VALUES]
    # abs() makes a new tensor: the rest runs in place on it (no more allocations).
    # No floor before the log: log10(0) = -inf, and the clamp puts it in the first
    # bin, where anything below 1e-8 goes (a 1e-30 floor did the same, one op more).
    logs = values.abs().float().log10_().clamp_(LOW, HIGH)
    return torch.histc(logs, bins=BINS, min=LOW, max=HIGH)


class HistogramProbe(Probe):
    def __init__(self) -> None:
        # (quantity, module) -> [(step, counts)]
        self._counts: dict[tuple[str, str], list[tuple[int, torch.Tensor]]] = {}

    def attach_step(self, stack: ExitStack) -> None:
        if not self.ctx.deep_step:
            return
        for name, module in self.ctx.named_modules:
            if name and not any(True for _ in module.children()):
                self.ctx.hub.watch(module, self._hook(name))

    def _hook(self, name: str) -> Any:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            leaves = [t for t in tensor_leaves(output) if not t.is_complex()]
            if leaves and all(t.numel() for t in leaves):
                self._add(Q.ACT_HIST, name, log_histogram(leaves))

        return hook

    def _add(self, quantity: str, name: str, counts: torch.Tensor) -> None:
        rows = self._counts.setdefault((quantity, name), [])
        if rows and rows[-1][0] == self.ctx.step:
            rows[-1] = (self.ctx.step, rows[-1][1] + counts)  # module called twice
        else:
            rows.append((self.ctx.step, counts))

    def after_backward(self) -> None:
        if not self.ctx.deep_step:
            return
        for pm in self.ctx.param_modules:
            grads = [
                p.grad for p in pm.params if p.grad is not None and not p.grad.is_sparse
            ]
            if grads:
                self._add(Q.GRAD_HIST, pm.name, log_histogram(grads))

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
