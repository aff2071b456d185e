"""Histograms of log10 |x| of leaf-module outputs (``act_hist``) and of each
parameter-owning module's gradients (``grad_hist``), on the deep-statistics steps.

Fixed bins: 24 bins of half a decade from 1e-8 to 1e4; values outside are clamped into
the end bins, so exact zeros count in the first bin. Each tensor contributes a strided
sample of at most 4096 values (the shape of the distribution is what matters); the
samples of a step are binned together by one ``bincount`` after it.
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


def magnitudes(tensor: torch.Tensor) -> torch.Tensor:
    """|x| of a strided sample of at most MAX_VALUES values, as a new float tensor
    (the shape of the distribution is what matters; the activation is not kept)."""
    values = tensor.detach().reshape(-1)
    if values.numel() > MAX_VALUES:
        values = values[:: values.numel() // MAX_VALUES]
    return values.abs().float()


def log_bins(values: torch.Tensor) -> torch.Tensor:
    """The bin of each magnitude: half decades from LOW to HIGH, outside values in the
    end bins, NaN in an extra bin ``BINS`` that is dropped (as ``histc`` skips NaN).
    The position is taken in float64, where ``log10 - LOW`` of a float32 log is
    exact, so a value on an edge starts its bin."""
    logs = torch.log10(values.clamp_min(1e-30)).clamp(LOW, HIGH).double()
    position = ((logs.nan_to_num(LOW) - LOW) * (BINS / (HIGH - LOW))).long()
    return torch.where(logs.isnan(), BINS, position.clamp_max(BINS - 1))


def segment_counts(samples: list[torch.Tensor], segments: list[int]) -> torch.Tensor:
    """(segments, BINS) counts of many samples at once: one bincount over
    ``segment * (BINS + 1) + bin``; samples of the same segment add up."""
    device = samples[0].device
    values = torch.cat([s.to(device) for s in samples])
    lengths = torch.tensor([s.numel() for s in samples], device=device)
    owner = torch.tensor(segments, device=device).repeat_interleave(lengths)
    size, width = max(segments) + 1, BINS + 1
    flat = torch.bincount(owner * width + log_bins(values), minlength=size * width)
    return flat.reshape(size, width)[:, :BINS].float()


def log_histogram(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The counts of several tensors together (tests, one-off use)."""
    return segment_counts([magnitudes(t) for t in tensors], [0] * len(tensors))[0]


class HistogramProbe(Probe):
    """Hooks keep only a small sample of magnitudes per tensor; after the step all of
    them are binned together (one bincount), not a score of ops per module."""

    def __init__(self) -> None:
        # (quantity, module) -> [(step, counts)]
        self._counts: dict[tuple[str, str], list[tuple[int, torch.Tensor]]] = {}
        self._keys: dict[tuple[str, str], int] = {}  # this step's segments
        self._samples: list[torch.Tensor] = []
        self._segments: list[int] = []

    def attach_step(self, stack: ExitStack) -> None:
        if not self.ctx.deep_step:
            return
        for name, module in self.ctx.named_modules:
            if name and not any(True for _ in module.children()):
                stack.enter_context(module.register_forward_hook(self._hook(name)))

    def _hook(self, name: str) -> Any:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            leaves = [t for t in tensor_leaves(output) if not t.is_complex()]
            if leaves and all(t.numel() for t in leaves):
                self._add(Q.ACT_HIST, name, leaves)

        return hook

    def _add(self, quantity: str, name: str, tensors: list[torch.Tensor]) -> None:
        # A module called twice in a step: both calls count in its one row.
        segment = self._keys.setdefault((quantity, name), len(self._keys))
        for tensor in tensors:
            self._samples.append(magnitudes(tensor))
            self._segments.append(segment)

    def after_backward(self) -> None:
        if not self.ctx.deep_step:
            return
        for pm in self.ctx.param_modules:
            grads = [
                p.grad for p in pm.params if p.grad is not None and not p.grad.is_sparse
            ]
            if grads:
                self._add(Q.GRAD_HIST, pm.name, grads)

    def end_step(self) -> None:
        if self._samples:
            counts = segment_counts(self._samples, self._segments).unbind(0)
            for key, segment in self._keys.items():
                self._counts.setdefault(key, []).append(
                    (self.ctx.step, counts[segment])
                )
        self._keys, self._samples, self._segments = {}, [], []

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
