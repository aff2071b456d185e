"""Activation statistics: mean and std of every module's output on every step, and on
the statistics steps the std across samples (``act_batch_std``) the depth ratio uses.

Cheap by construction: a float32 ``sum`` and a ``vector_norm`` per output tensor (two
vectorised passes; ``var_mean`` is ~100x slower on CPU), std from E[x^2] - E[x]^2. The
hook keeps two device scalars, never the activation. The first step's hook order is the
execution order the judge uses (post-order: a container's hook fires after its children).
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

from pytest_nnhealth.probes.base import Probe, RunContext, Series, StepValues
from pytest_nnhealth.probes.base import tensor_leaves as leaves


def hooked_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every named module; the root only when it has no children (else its output
    repeats its last child's)."""
    modules = list(model.named_modules())
    return modules[1:] if len(modules) > 1 else modules


def sums(tensor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum, sum of squares) in float32, two fast reductions."""
    total = tensor.sum(dtype=torch.float32)
    norm = torch.linalg.vector_norm(tensor, dtype=torch.float32)
    return total, norm * norm


def output_moments(output: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(mean, std) over all real floating-point leaves of an output, as device scalars."""
    parts = [t.detach() for t in leaves(output) if t.numel() > 0 and not t.is_complex()]
    if not parts:
        return None
    count = float(sum(t.numel() for t in parts))
    total, square = sums(parts[0])
    for part in parts[1:]:
        more = sums(part)
        total = total + more[0].to(total.device)
        square = square + more[1].to(total.device)
    mean = total / count
    return mean, (square / count - mean * mean).clamp_min(0).sqrt()


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
    first = first.detach()
    units = first.shape[-1] if first.dim() <= 3 else first.shape[1]
    per_unit = first.sum(dim=dims, dtype=torch.float32) * (units / first.numel())
    _, square = sums(first)
    return (square / first.numel() - (per_unit * per_unit).mean()).clamp_min(0).sqrt()


class ActivationProbe(Probe):
    def __init__(self) -> None:
        self.values = StepValues()

    def attach(self, ctx: RunContext, stack: ExitStack) -> None:
        super().attach(ctx, stack)
        for name, module in hooked_modules(ctx.model):
            stack.enter_context(module.register_forward_hook(self._hook(name)))

    def _hook(self, name: str) -> Any:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            ctx = self.ctx
            if ctx.step == 0 and name not in ctx.order_set:
                ctx.order.append(name)
                ctx.order_set.add(name)
            moments = output_moments(output)
            if moments is not None:
                self.values.add("act_mean", name, ctx.step, moments[0])
                self.values.add("act_std", name, ctx.step, moments[1])
            if ctx.stat_step:
                spread = batch_std(output)
                if spread is not None:
                    self.values.add("act_batch_std", name, ctx.step, spread)

        return hook

    def series(self) -> Series:
        return self.values.to_series(self.ctx.steps)
