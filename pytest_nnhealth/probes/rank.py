"""Rank of hidden outputs on the deep-statistics steps: ``sigma_1 / sum(sigma)`` and the
effective rank ``exp(entropy(sigma / sum(sigma)))`` of the (samples x units) matrix.

An SVD per module per step costs ~4.5x a bare step, so this runs only on the
deep-statistics steps (``deep_schedule``), on leaf modules whose output has at least 8
units and whose kind the rank rule reads (not in ``UNJUDGED_KINDS``), with at most 64
rows (evenly strided) per matrix.
"""

from __future__ import annotations

import functools
import math
import weakref
from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.judge.rank import UNJUDGED_KINDS
from pytest_nnhealth.probes.base import (
    Probe,
    Series,
    StepValues,
    tensor_leaves,
    without_unmeasured,
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
    # Real inputs differ already at the start of the first two samples: comparing
    # those settles it without a pass over a whole (large, for a conv) input.
    if rows.shape[0] > 1 and not bool((rows[1, :256] == rows[0, :256]).all()):
        return False
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


def sampled_rows(
    output: torch.Tensor, channels_last: bool = False
) -> torch.Tensor | None:
    """The (at most MAX_ROWS) x units matrix whose spectrum stands for the output,
    in float64; None where the rank is not measured. Shape checks only: no sync."""
    output = output.detach()
    if pooled(output):
        return None
    if channels_last and output.dim() >= 4:
        # A Linear's features are its last dim whatever the rank of its input (the
        # heads of a talking-heads projection on (B, N, N, heads) logits).
        output = output.reshape(-1, output.shape[-1])
    if output.dim() >= 4 and output.shape[0] > 8:
        output = output[:: output.shape[0] // 8]  # avoid copying a whole conv output
    if output.dim() < 2:
        return None
    units = output.shape[1] if output.dim() >= 4 else output.shape[-1]
    count = output.numel() // units if units else 0  # rows of units_matrix(output)
    if units < MIN_UNITS or count < MIN_UNITS:
        return None
    # At most MAX_ROWS rows, strictly: MKL's eigensolver falls into a ~5000x slower
    # threaded path for a 96 x 96 float64 matrix on a busy 2-core machine (measured
    # 0.5 s vs 0.1 ms at 64 x 64).
    stride = -(-count // MAX_ROWS)
    # float64: the small eigenvalues of a near-rank-1 Gram matrix must not turn into
    # visible singular values through rounding.
    if output.dim() >= 4:
        # The rows units_matrix(output)[::stride][:MAX_ROWS] would keep, gathered
        # directly: units_matrix copies the whole channels-last output first
        # (~0.2 ms for 8 x 24 x 56 x 56), for 64 of its rows.
        moved = output.movedim(1, -1)
        index = _row_index(tuple(moved.shape[:-1]), stride, output.device)
        return moved[index].double()
    matrix = units_matrix(output)
    assert matrix is not None  # 2-d or 3-d
    return matrix[::stride][:MAX_ROWS].double()


@functools.lru_cache(maxsize=512)
def _row_index(
    shape: tuple[int, ...], stride: int, device: torch.device
) -> tuple[torch.Tensor, ...]:
    """Indices into the leading dims ``shape`` of rows 0, stride, ... (at most
    MAX_ROWS) of their row-major flattening; the same few shapes recur every step."""
    rows = torch.arange(0, math.prod(shape), stride)[:MAX_ROWS]
    return tuple(i.to(device) for i in torch.unravel_index(rows, shape))


def gram(rows: torch.Tensor) -> torch.Tensor:
    """Singular values come from the smaller Gram matrix (rows x rows, or units x
    units when there are fewer units): an eigvalsh of 64 x 64 is several times
    cheaper than an SVD of 64 x units, and only these 32 KiB at most outlive the hook,
    never the activation. Both Gram matrices have the same non-zero eigenvalues; the
    larger one only adds zeros (rounding noise after the eigensolve), which add
    nothing to the top fraction or the entropy. An eigensolve costs the cube of the
    size: 64 x 24 outputs (a narrow conv) cost 5x less as 24 x 24."""
    if rows.shape[1] < rows.shape[0]:
        return rows.T @ rows
    return rows @ rows.T


def spectra(grams: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``sigma_1 / sum(sigma)`` and the effective rank of a batch of same-sized Gram
    matrices, one batched eigensolve; NaN where not measurable (a NaN/Inf in the
    rows, on which the eigensolver fails, or all-zero rows). No synchronisation: the
    NaN marks are read with every other value at the end of the run."""
    finite = torch.isfinite(grams).flatten(1).all(dim=1)
    grams = torch.where(finite[:, None, None], grams, 0.0)
    sigma = torch.linalg.eigvalsh(grams).clamp_min(0).sqrt()  # ascending
    p = sigma / sigma.sum(dim=-1, keepdim=True)  # 0 / 0 = NaN: not measurable
    entropy = torch.special.entr(p).sum(dim=-1)
    return p[:, -1], torch.exp(entropy)


def spectrum_stats(
    output: torch.Tensor, channels_last: bool = False
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(top fraction, effective rank) of one output, or None (tests, one-off use)."""
    rows = sampled_rows(output, channels_last)
    if rows is None:
        return None
    top, effective = spectra(gram(rows)[None])
    if bool(torch.isnan(top[0])):
        return None
    return top[0], effective[0]


def _keep_measured(previous: float, value: float) -> float:
    """A module called twice in a step: its last measurable call counts."""
    return previous if math.isnan(value) else value


class RankProbe(Probe):
    """Hooks keep one small Gram matrix per measured tensor; the spectra of a step
    are computed together after it (one batched eigensolve per matrix size, a
    handful of tensor ops in all), not a score of ops per module."""

    def __init__(self) -> None:
        self.values = StepValues(combine=_keep_measured)
        # Gram matrices of this step, by (tensor id, version, layout): a module's input
        # is usually the previous module's output, measured a moment before. The
        # version counter tells an in-place change (an in-place ReLU) apart; a weak
        # reference tells a new tensor at a freed one's id apart, without keeping the
        # activation alive.
        self._seen: dict[
            tuple[int, int, bool], tuple[weakref.ref[torch.Tensor], int | None]
        ] = {}
        self._grams: list[torch.Tensor] = []
        self._calls: list[tuple[str, int, int | None]] = []  # module, output, input

    def start_step(self) -> None:
        self._seen.clear()
        self._grams.clear()
        self._calls.clear()

    def end_step(self) -> None:
        if self._calls:
            self._measure_step()
        self.start_step()

    def _gram_index(self, tensor: torch.Tensor, linear: bool) -> int | None:
        # The layout flag matters for >= 4-d tensors only (see sampled_rows).
        key = (id(tensor), tensor._version, linear and tensor.dim() >= 4)
        known = self._seen.get(key)
        if known is not None and known[0]() is tensor:
            return known[1]
        rows = sampled_rows(tensor, linear)
        index = None
        if rows is not None:
            index = len(self._grams)
            self._grams.append(gram(rows))
        self._seen[key] = (weakref.ref(tensor), index)
        return index

    def attach_step(self, stack: ExitStack) -> None:
        if not self.ctx.deep_step:
            return
        for name, module in self.ctx.named_modules:
            # The rule reads neither the output nor the input of an unjudged kind: no
            # hooks, Gram matrices or eigensolves for them.
            if type(module).__name__ in UNJUDGED_KINDS:
                continue
            if name and not any(True for _ in module.children()):
                self.ctx.hub.watch(module, self._hook(name))

    def _hook(self, name: str) -> Any:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            first = next(tensor_leaves(output), None)
            if first is None or first.is_complex():
                return
            linear = isinstance(module, nn.Linear)
            measured = self._gram_index(first, linear)
            if measured is None or constant_rows(inputs):
                return
            # The same statistic on the input: a collapse the module receives is
            # not one it starts (the judge reports where it starts).
            source = next(tensor_leaves(inputs), None)
            received = None
            if source is not None and not source.is_complex():
                received = self._gram_index(source, linear)
            self._calls.append((name, measured, received))

        return hook

    def _measure_step(self) -> None:
        top, effective = self._spectra()
        names = [name for name, _, _ in self._calls]
        device = top.device
        out = torch.tensor([index for _, index, _ in self._calls], device=device)
        step = self.ctx.step
        self.values.add_vector(Q.TOP_SV_FRACTION, names, step, top[out])
        self.values.add_vector(Q.RANK, names, step, effective[out])
        inputs = [(name, o, i) for name, o, i in self._calls if i is not None]
        if inputs:
            received = top[torch.tensor([i for _, _, i in inputs], device=device)]
            # Not measured where the module's own output was not (as before: the
            # input is read only for a measured output).
            own = top[torch.tensor([o for _, o, _ in inputs], device=device)]
            received = torch.where(own.isnan(), own, received)
            names = [name for name, _, _ in inputs]
            self.values.add_vector(Q.INPUT_TOP_SV_FRACTION, names, step, received)

    def _spectra(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per Gram matrix of the step: (top fraction, effective rank), NaN where not
        measurable; one batched eigensolve per matrix size."""
        sizes: dict[int, list[int]] = {}
        for index, matrix in enumerate(self._grams):
            sizes.setdefault(matrix.shape[0], []).append(index)
        tops, ranks, order = [], [], []
        for indices in sizes.values():
            top, effective = spectra(torch.stack([self._grams[i] for i in indices]))
            tops.append(top)
            ranks.append(effective)
            order.extend(indices)
        # Back to the order the matrices were recorded in.
        position = torch.empty(len(order), dtype=torch.long)
        position[torch.tensor(order)] = torch.arange(len(order))
        device = tops[0].device
        return torch.cat(tops)[position.to(device)], torch.cat(ranks)[
            position.to(device)
        ]

    def series(self) -> Series:
        # NaN marks a call that was not measurable.
        return without_unmeasured(self.values.to_series(self.ctx.steps))
