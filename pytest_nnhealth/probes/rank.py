"""Rank of hidden outputs on the deep-statistics steps: ``sigma_1 / sum(sigma)`` and the
effective rank ``exp(entropy(sigma / sum(sigma)))`` of the (samples x units) matrix.

An SVD per module per step costs ~4.5x a bare step, so this runs only on the three
deep-statistics steps, on leaf modules whose output has at least 8 units, with at most
64 rows (evenly strided) per matrix.
"""

from __future__ import annotations

import weakref
from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.probes.base import (
    Probe,
    Series,
    StepValues,
    tensor_leaves,
)
from pytest_nnhealth.probes.dead_units import pooled, units_matrix

# sigma_1 / sum(sigma) says "one direction" only when there are enough directions: with
# 4 units its floor is 0.25 and a shared offset the size of the per-unit spread (a
# bias, near-uniform attention logits over 4 heads) already passes 0.9.
MIN_UNITS = 8
MAX_ROWS = 64


def constant_rows(value: Any) -> bool:
    """True when the first tensor input is the same for every sample (segment ids all
    0, a broadcast condition): then identical output rows are by design."""
    first = next(_all_tensor_leaves(value), None)
    if first is None or first.dim() < 1 or first.numel() == 0:
        return False
    rows = first.detach().reshape(first.shape[0], -1)
    if first.dtype in (torch.long, torch.int, torch.int16, torch.int8, torch.uint8):
        return bool((rows == rows.reshape(-1)[0]).all())
    return bool((rows == rows[:1]).all())


def _all_tensor_leaves(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _all_tensor_leaves(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _all_tensor_leaves(item)


def spectrum_stats(
    output: torch.Tensor, channels_last: bool = False
) -> tuple[torch.Tensor, torch.Tensor] | None:
    output = output.detach()
    if pooled(output):
        return None
    if channels_last and output.dim() >= 4:
        # A Linear's features are its last dim whatever the rank of its input (the
        # heads of a talking-heads projection on (B, N, N, heads) logits).
        output = output.reshape(-1, output.shape[-1])
    if output.dim() >= 4 and output.shape[0] > 8:
        output = output[:: output.shape[0] // 8]  # avoid copying a whole conv output
    matrix = units_matrix(output)
    if matrix is None or matrix.shape[1] < MIN_UNITS or matrix.shape[0] < MIN_UNITS:
        return None
    # At most MAX_ROWS rows, strictly: MKL's eigensolver falls into a ~5000x slower
    # threaded path for a 96 x 96 float64 matrix on a busy 2-core machine (measured
    # 0.5 s vs 0.1 ms at 64 x 64).
    stride = -(-matrix.shape[0] // MAX_ROWS)
    rows = matrix[::stride][:MAX_ROWS].float()
    # One synchronisation, on deep-statistics steps only: the eigensolver fails on
    # NaN/Inf (reported by the non-finite probe anyway).
    if not bool(torch.isfinite(rows).all()):
        return None
    # Singular values from the small Gram matrix (rows x rows): an eigvalsh of 64 x 64
    # is several times cheaper than an SVD of 64 x units.
    # float64: the small eigenvalues of a near-rank-1 Gram matrix must not turn into
    # visible singular values through rounding.
    rows64 = rows.double()
    sigma = torch.linalg.eigvalsh(rows64 @ rows64.T).clamp_min(0).sqrt().flip(0)
    total = sigma.sum()
    if not torch.isfinite(total) or total <= 0:
        return None
    p = sigma / total
    entropy = -(p * torch.log(p.clamp_min(1e-30))).sum()
    return p[0], torch.exp(entropy)


class RankProbe(Probe):
    def __init__(self) -> None:
        self.values = StepValues()
        # Spectra computed this step, by (tensor id, version, layout): a module's input
        # is usually the previous module's output, measured a moment before. The
        # version counter tells an in-place change (an in-place ReLU) apart; a weak
        # reference tells a new tensor at a freed one's id apart, without keeping the
        # activation alive.
        self._seen: dict[
            tuple[int, int, bool], tuple[weakref.ref[torch.Tensor], Any]
        ] = {}

    def start_step(self) -> None:
        self._seen.clear()

    def end_step(self) -> None:
        self._seen.clear()

    def _spectrum(
        self, tensor: torch.Tensor, linear: bool
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        # The layout flag matters for >= 4-d tensors only (see spectrum_stats).
        key = (id(tensor), tensor._version, linear and tensor.dim() >= 4)
        known = self._seen.get(key)
        if known is not None and known[0]() is tensor:
            result: tuple[torch.Tensor, torch.Tensor] | None = known[1]
            return result
        stats = spectrum_stats(tensor, linear)
        self._seen[key] = (weakref.ref(tensor), stats)
        return stats

    def attach_step(self, stack: ExitStack) -> None:
        if not self.ctx.deep_step:
            return
        for name, module in self.ctx.named_modules:
            if name and not any(True for _ in module.children()):
                stack.enter_context(module.register_forward_hook(self._hook(name)))

    def _hook(self, name: str) -> Any:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            first = next(tensor_leaves(output), None)
            if first is None or first.is_complex() or constant_rows(inputs):
                return
            linear = isinstance(module, nn.Linear)
            stats = self._spectrum(first, linear)
            if stats is None:
                return
            step = self.ctx.step
            self.values.add(Q.TOP_SV_FRACTION, name, step, stats[0])
            self.values.add(Q.RANK, name, step, stats[1])
            # The same statistic on the input: a collapse the module receives is
            # not one it starts (the judge reports where it starts).
            source = next(tensor_leaves(inputs), None)
            if source is not None and not source.is_complex():
                received = self._spectrum(source, linear)
                if received is not None:
                    self.values.add(Q.INPUT_TOP_SV_FRACTION, name, step, received[0])

        return hook

    def series(self) -> Series:
        return self.values.to_series(self.ctx.steps)
