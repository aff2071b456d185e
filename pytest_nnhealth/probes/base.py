"""What every probe shares: the run context, the probe life cycle, series buffers.

A probe measures one quantity and nothing else (no thresholds, no asserts, no pytest).
The
runner drives it: ``attach`` (register hooks into the ExitStack, so they are removed
whatever happens), then per step ``start_step``, forward/backward hooks,
``after_backward``,
``before_update``/``after_update`` around ``optimizer.step()``, and at the end
``series()``
returning plain floats. Values stay on the device until ``series()``: on a GPU every
``.item()`` is a host-device synchronisation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

Series = dict[
    str, dict[str, list[float | None]]
]  # quantity -> module -> per-step value


@dataclass
class ParamModule:
    """A module owning trainable parameters directly (``recurse=False``)."""

    name: str
    module: nn.Module
    params: list[nn.Parameter]


def stat_schedule(steps: int, window: int) -> frozenset[int]:
    """Steps where activation-level statistics (dead units, saturation, depth ratio) are
    measured: the first and last ``window`` steps (onset and the judge's trailing window)
    and every 5th step between. 10 of 25 steps by default."""
    edges = set(range(min(window, steps))) | set(range(max(0, steps - window), steps))
    return frozenset(edges | set(range(0, steps, 5)))


def deep_schedule(steps: int) -> frozenset[int]:
    """Steps where the expensive quantities (SVD rank, histograms) are measured."""
    return frozenset({0, steps // 2, steps - 1})


@dataclass
class RunContext:
    model: nn.Module
    steps: int
    stat_steps: frozenset[int]
    deep_steps: frozenset[int]
    names: dict[nn.Module, str] = field(default_factory=dict)
    param_modules: list[ParamModule] = field(default_factory=list)
    step: int = 0
    # Module names in the order their forward hooks fired at step 0 (post-order).
    order: list[str] = field(default_factory=list)
    order_set: set[str] = field(default_factory=set)
    _cache: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, model: nn.Module, steps: int, window: int = 3) -> RunContext:
        names = {module: name for name, module in model.named_modules()}
        param_modules = [
            ParamModule(name, module, trainable)
            for name, module in model.named_modules()
            if (
                trainable := [
                    p for p in module.parameters(recurse=False) if p.requires_grad
                ]
            )
        ]
        return cls(
            model,
            steps,
            stat_schedule(steps, window),
            deep_schedule(steps),
            names,
            param_modules,
        )

    @property
    def stat_step(self) -> bool:
        return self.step in self.stat_steps

    @property
    def deep_step(self) -> bool:
        return self.step in self.deep_steps

    def trainable(self) -> list[nn.Parameter]:
        return [p for pm in self.param_modules for p in pm.params]

    def new_step(self, step: int) -> None:
        self.step = step
        self._cache.clear()

    def grad_norms(self) -> torch.Tensor | None:
        """Per trainable parameter gradient norm this step (0 where grad is None);
        computed once per step and shared by the probes that need it."""
        if "grad_norms" not in self._cache:
            self._cache["grad_norms"] = _norms(
                [p.grad for p in self.trainable()], self.trainable()
            )
        result: torch.Tensor | None = self._cache["grad_norms"]
        return result

    def param_norms(self) -> torch.Tensor | None:
        if "param_norms" not in self._cache:
            params = [p.detach() for p in self.trainable()]
            self._cache["param_norms"] = _norms(params, self.trainable())
        result: torch.Tensor | None = self._cache["param_norms"]
        return result

    def module_index(self) -> torch.Tensor:
        """For each trainable parameter, the index of its owning ParamModule."""
        if "module_index" not in self._cache:
            index = [i for i, pm in enumerate(self.param_modules) for _ in pm.params]
            self._cache["module_index"] = torch.tensor(index, dtype=torch.long)
        result: torch.Tensor = self._cache["module_index"]
        return result


def _norms(
    tensors: Sequence[torch.Tensor | None], params: list[nn.Parameter]
) -> torch.Tensor | None:
    if not params:
        return None
    device = params[0].device
    present = [(i, _dense(t)) for i, t in enumerate(tensors) if t is not None]
    out = torch.zeros(len(params), device=device, dtype=torch.float32)
    if present:
        # One fused launch per dtype/device group instead of one per parameter.
        values = torch._foreach_norm([t for _, t in present])
        stacked = torch.stack([v.float().to(device) for v in values])
        index = torch.tensor([i for i, _ in present], device=device)
        out.index_copy_(0, index, stacked)
    return out


def _dense(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.coalesce().values() if tensor.is_sparse else tensor


def combine_per_module(values: torch.Tensor, ctx: RunContext) -> torch.Tensor:
    """sqrt of the sum of squares of per-parameter norms, per ParamModule."""
    index = ctx.module_index().to(values.device)
    total = torch.zeros(len(ctx.param_modules), device=values.device)
    return total.index_add_(0, index, values.float() ** 2).sqrt()


class Probe:
    """Base probe: every hook is a no-op unless overridden."""

    def attach(self, ctx: RunContext, stack: ExitStack) -> None:
        """Once per run: hooks that stay for every step."""
        self.ctx = ctx

    def attach_step(self, stack: ExitStack) -> None:
        """At the start of each step: hooks for this step only (removed at its end), so
        a probe measured on sampled steps costs nothing on the others."""

    def start_step(self) -> None:
        pass

    def after_backward(self) -> None:
        pass

    def before_update(self) -> None:
        pass

    def after_update(self) -> None:
        pass

    def end_step(self) -> None:
        pass

    def series(self) -> Series:
        return {}

    def extras(self) -> dict[str, Any]:
        """Measurements that are not per-module series (events, lists of names)."""
        return {}


class StepValues:
    """Device scalars per (quantity, module, step), converted to floats once."""

    def __init__(self) -> None:
        self._items: list[tuple[str, str, int, torch.Tensor]] = []

    def add(self, quantity: str, module: str, step: int, value: torch.Tensor) -> None:
        self._items.append((quantity, module, step, value.detach().reshape(())))

    def add_vector(
        self, quantity: str, modules: list[str], step: int, values: torch.Tensor
    ) -> None:
        for i, name in enumerate(modules):
            self._items.append((quantity, name, step, values[i]))

    def to_series(self, steps: int) -> Series:
        floats = to_floats([value for _, _, _, value in self._items])
        series: Series = {}
        for (quantity, module, step, _), number in zip(
            self._items, floats, strict=True
        ):
            row = series.setdefault(quantity, {}).setdefault(module, [None] * steps)
            row[step] = number
        return series


def to_floats(values: list[torch.Tensor]) -> list[float]:
    """Scalars to Python floats with one transfer per device."""
    result: list[float] = [0.0] * len(values)
    groups: dict[torch.device, list[int]] = {}
    for i, value in enumerate(values):
        groups.setdefault(value.device, []).append(i)
    for indices in groups.values():
        stacked = torch.stack([values[i].float() for i in indices]).cpu().tolist()
        for i, number in zip(indices, stacked, strict=True):
            result[i] = number
    return result


def tensor_leaves(value: Any) -> Iterator[torch.Tensor]:
    """Floating-point tensors inside a module output (tuple/list/dict, nested)."""
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() or value.is_complex():
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from tensor_leaves(item)
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from tensor_leaves(item)
    elif hasattr(value, "to_tuple"):  # e.g. transformers' ModelOutput
        yield from tensor_leaves(value.to_tuple())
