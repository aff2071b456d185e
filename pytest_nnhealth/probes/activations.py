"""Activation statistics on the statistics steps (``stat_schedule``: 8 of 25 by
default): mean and std of every module's output; at step 0 also the std across samples
(``act_batch_std``), from which the judge takes the depth ratio at init. The hooks are
attached on those steps only.

Cheap by construction: a float32 ``sum`` and a ``vector_norm`` per output tensor (two
vectorised passes; ``var_mean`` is ~100x slower on CPU), std from E[x^2] - E[x]^2. The
hook keeps two device scalars, never the activation. The first step's hook order is the
execution order the judge uses (post-order: a container's hook fires after its
children).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any, NamedTuple

import torch
from torch import nn

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.probes.base import (
    Probe,
    RunContext,
    Series,
    StepValues,
    vectors_to_floats,
)
from pytest_nnhealth.probes.base import tensor_leaves as leaves


def hooked_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every named module; the root only when it has no children (else its output
    repeats its last child's)."""
    modules = list(model.named_modules())
    return modules[1:] if len(modules) > 1 else modules


def sums(tensor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum, sum of squares) in float32, two fast reductions."""
    total, norm = _sum_and_norm(tensor)
    return total, norm * norm


def _sum_and_norm(tensor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    total = tensor.sum(dtype=torch.float32)
    # vector_norm refuses a narrowing dtype: float64 outputs take their norm in
    # float64 (then cast), every other float type is widened to float32 as before.
    wide = tensor.dtype if tensor.dtype == torch.float64 else torch.float32
    return total, torch.linalg.vector_norm(tensor, dtype=wide).float()


class Sums(NamedTuple):
    """What the hook keeps of an output: its number of values, its float32 sum, and
    either its float32 norm (``squared`` False: one output tensor, squared with all
    the others at the end) or its float32 sum of squares (several tensors)."""

    numel: float
    total: torch.Tensor
    second: torch.Tensor
    squared: bool


def output_sums(output: Any) -> Sums | None:
    """The sums of the real floating-point leaves of an output; mean and std are
    computed from them in Python at the end of the run. One tensor (nearly every
    output) costs two reductions and nothing more: the norm is squared at the end,
    together with every other one (the same float32 product, one op in all)."""
    if isinstance(output, torch.Tensor):  # nearly every output: no generator, no list
        if not output.is_floating_point() or output.numel() == 0:
            return None
        total, norm = _sum_and_norm(output.detach())
        return Sums(float(output.numel()), total, norm, False)
    parts = [t.detach() for t in leaves(output) if t.numel() > 0 and not t.is_complex()]
    if not parts:
        return None
    count = float(sum(t.numel() for t in parts))
    if len(parts) == 1:
        total, norm = _sum_and_norm(parts[0])
        return Sums(count, total, norm, False)
    moments = torch.stack(sums(parts[0]))
    for part in parts[1:]:
        moments = moments + torch.stack(sums(part)).to(moments.device)
    return Sums(count, moments[0], moments[1], True)


def squared_sums(measured: list[Sums]) -> list[tuple[float, float]]:
    """(sum, sum of squares) as floats for each measurement, the norms squared in
    float32 with one op per device."""
    groups: dict[torch.device, list[int]] = {}
    for i, item in enumerate(measured):
        groups.setdefault(item.total.device, []).append(i)
    pairs: list[torch.Tensor] = []
    order: list[int] = []
    for indices in groups.values():
        totals = torch.stack([measured[i].total for i in indices])
        second = torch.stack([measured[i].second for i in indices])
        norms = torch.tensor([not measured[i].squared for i in indices])
        squares = torch.where(norms.to(second.device), second * second, second)
        pairs.append(torch.stack([totals, squares], dim=1).reshape(-1))
        order.extend(indices)
    values = [value for row in vectors_to_floats(pairs) for value in row]
    result: list[tuple[float, float]] = [(0.0, 0.0)] * len(measured)
    for position, index in enumerate(order):
        result[index] = (values[2 * position], values[2 * position + 1])
    return result


def moments_from_sums(count: float, total: float, square: float) -> tuple[float, float]:
    mean = total / count
    return mean, math.sqrt(max(square / count - mean * mean, 0.0))


def output_moments(output: Any) -> tuple[float, float] | None:
    """(mean, std) of an output as floats (for tests and one-off use)."""
    measured = output_sums(output)
    if measured is None:
        return None
    [(total, square)] = squared_sums([measured])
    return moments_from_sums(measured.numel, total, square)


def leading_samples(tensor: torch.Tensor, limit: int = 65536) -> torch.Tensor:
    """The first samples of a batch, at most ~``limit`` values (a view, no copy): unit
    statistics over a few thousand samples are as good as over all."""
    if tensor.dim() < 2 or tensor.numel() <= limit:
        return tensor
    per_sample = max(1, tensor.numel() // tensor.shape[0])
    return tensor[: max(2, limit // per_sample)]


def unit_dims(tensor: torch.Tensor) -> tuple[int, ...] | None:
    """Dims to reduce to get one value per unit: (N, F) -> F; (N, T, F) -> F;
    (N, C, ...) -> C. None for 0-d/1-d tensors."""
    if tensor.dim() < 2:
        return None
    if tensor.dim() <= 3:
        return tuple(range(tensor.dim() - 1))
    return (0, *range(2, tensor.dim()))


def batch_std(output: Any) -> torch.Tensor | None:
    """Std across samples, averaged over units: how much of the input signal reaches
    this output. Unlike the plain std it ignores a constant per-unit offset (bias), all
    that is left when the signal vanishes."""
    first = next(leaves(output), None)
    if first is None or first.is_complex() or first.numel() == 0:
        return None
    dims = unit_dims(first)
    if dims is None:
        return None
    first = leading_samples(first.detach()).float()
    # Centre before squaring: when the signal has vanished the per-unit mean (the bias)
    # is all there is, and E[x^2] - E[x]^2 would leave only float32 rounding noise.
    centred = first - first.mean(dim=dims, keepdim=True)
    return torch.linalg.vector_norm(centred) / math.sqrt(first.numel())


Memo = dict[tuple[int, int], tuple["weakref.ref[torch.Tensor]", Any]]


def single_leaf(output: Any) -> torch.Tensor | None:
    """The one tensor ``output_sums`` would reduce in a tuple/dict output, if one."""
    parts = [t for t in leaves(output) if t.numel() > 0 and not t.is_complex()]
    return parts[0] if len(parts) == 1 else None


def remembered(
    memo: Memo, tensor: torch.Tensor, compute: Callable[[torch.Tensor], Any]
) -> Any:
    """``compute(tensor)``, or what it gave for this very tensor, unchanged since."""
    key = (id(tensor), tensor._version)
    known = memo.get(key)
    if known is not None and known[0]() is tensor:
        return known[1]
    value = compute(tensor)
    memo[key] = (weakref.ref(tensor), value)
    return value


class ActivationProbe(Probe):
    def __init__(self) -> None:
        self.values = StepValues()
        self._sums: list[tuple[str, int, Sums]] = []
        # What was measured of a tensor this step, by (id, version counter): a
        # container returning a child's output (Sequential, a stage, a block ending in
        # its activation, a transformers layer returning ``(hidden,)``) and an identity
        # module hand the hook a tensor already measured. Same object, same version ->
        # the same values, reused instead of reduced again. An in-place activation
        # returns the same object with a new version: measured again. The weak
        # reference tells a new tensor at a freed one's id apart without keeping any
        # activation alive; both tables are emptied at every step's end.
        self._seen_sums: Memo = {}
        self._seen_spread: Memo = {}

    def attach(self, ctx: RunContext, stack: ExitStack) -> None:
        super().attach(ctx, stack)
        self._hooks = [
            (module, self._hook(name)) for name, module in hooked_modules(ctx.model)
        ]

    def attach_step(self, stack: ExitStack) -> None:
        # Statistics steps only: no judge rule reads act_mean/act_std, and a NaN shows
        # in the loss or the gradient norms (every step) as well. A hook that is not
        # attached costs nothing; an idle one still costs its dispatch.
        if not self.ctx.stat_step:
            return
        for module, hook in self._hooks:
            self.ctx.hub.watch(module, hook)

    def _hook(self, name: str) -> Any:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            ctx = self.ctx
            if ctx.step == 0 and name not in ctx.order_set:
                ctx.order.append(name)
                ctx.order_set.add(name)
            measured = self._measure(output)
            if measured is not None:
                self._sums.append((name, ctx.step, measured))
            # The depth ratio is judged at init (judge.signal_rules.depth_ratio).
            if ctx.step == 0:
                spread = self._spread(output)
                if spread is not None:
                    self.values.add(Q.ACT_BATCH_STD, name, ctx.step, spread)

        return hook

    def _measure(self, output: Any) -> Sums | None:
        single = output if isinstance(output, torch.Tensor) else single_leaf(output)
        if single is None:  # several tensors (or none): measured as a whole
            return output_sums(output)
        # output_sums of a one-tensor output is that of its tensor.
        return remembered(self._seen_sums, single, output_sums)

    def _spread(self, output: Any) -> torch.Tensor | None:
        first = next(leaves(output), None)  # what batch_std reads of an output
        if first is None:
            return None
        return remembered(self._seen_spread, first, batch_std)

    def end_step(self) -> None:
        self._seen_sums.clear()
        self._seen_spread.clear()

    def series(self) -> Series:
        series = self.values.to_series(self.ctx.steps)
        means = series.setdefault(Q.ACT_MEAN, {})
        stds = series.setdefault(Q.ACT_STD, {})
        pairs = squared_sums([measured for _, _, measured in self._sums])
        for (name, step, measured), (total, square) in zip(
            self._sums, pairs, strict=True
        ):
            mean, std = moments_from_sums(measured.numel, total, square)
            means.setdefault(name, [None] * self.ctx.steps)[step] = mean
            stds.setdefault(name, [None] * self.ctx.steps)[step] = std
        return series
