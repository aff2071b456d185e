"""What every probe shares: the run context, the probe life cycle, series buffers.

A probe measures one quantity and nothing else (no thresholds, no asserts, no pytest).
The
runner drives it: ``attach`` (register hooks into the ExitStack, so they are removed
whatever happens), then per step ``start_step``, forward/backward hooks,
``after_backward``,
``before_update``/``after_update`` around ``optimizer.step()``, and at the end
``series()`` returning plain floats and ``record()`` writing everything else into typed
fields of the run's ``RunResult`` (judge/records.py; no string keys). Values stay on
the device until ``series()``: on a GPU every ``.item()`` is a host-device
synchronisation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from pytest_nnhealth.judge.records import RunResult
from pytest_nnhealth.probes.forward_hub import ForwardHub
from pytest_nnhealth.probes.norms import norms

Series = dict[
    str, dict[str, list[float | None]]
]  # quantity -> module -> per-step value


@dataclass
class ParamModule:
    """A module owning trainable parameters directly (``recurse=False``)."""

    name: str
    module: nn.Module
    params: list[nn.Parameter]


# Statistics steps between the two windows: every STAT_STRIDE-th step. The judge reads
# these quantities on their last ``window`` measured values and walks back through the
# measured steps only to date a finding's onset, so the steps between the windows
# place an onset and draw the report's curves; every 5th cost 10 of 25 steps, each
# ~3 ms of probes on a 4 ms BERT step (docs/performance.md, sched25).
STAT_STRIDE = 10


def stat_schedule(steps: int, window: int) -> frozenset[int]:
    """Steps where activation-level statistics (dead units, saturation, depth ratio) are
    measured: the first and last ``window`` steps (onset, and the judge's trailing
    window) and every ``STAT_STRIDE``-th step between. 8 of 25 steps by default."""
    edges = set(range(min(window, steps))) | set(range(max(0, steps - window), steps))
    return frozenset(edges | set(range(0, steps, STAT_STRIDE)))


def deep_schedule(steps: int) -> frozenset[int]:
    """Steps where the expensive quantities (SVD rank, histograms) are measured: the
    first and the last. The rank rule reports a collapse present on every measured
    step (its window covers them all), i.e. there from the first step to the last;
    a middle step only re-confirmed it, at the cost of a step dearer than the other
    probes' steps together on small models (docs/performance.md, speed26)."""
    return frozenset({0, steps - 1})


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
    # model.named_modules() once per run: probes that hook on sampled steps walked the
    # module tree on each of them.
    named_modules: list[tuple[str, nn.Module]] = field(default_factory=list)
    _cache: dict[str, Any] = field(default_factory=dict)  # cleared every step
    _static: dict[str, Any] = field(default_factory=dict)  # kept for the run
    # Where the probes ask for module outputs; one hook per sampled step for all.
    hub: ForwardHub = field(init=False)

    def __post_init__(self) -> None:
        self.hub = ForwardHub(self.model)

    @classmethod
    def build(cls, model: nn.Module, steps: int, window: int = 3) -> RunContext:
        modules = list(model.named_modules())
        names = {module: name for name, module in modules}
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
            named_modules=modules,
        )

    @property
    def stat_step(self) -> bool:
        return self.step in self.stat_steps

    @property
    def deep_step(self) -> bool:
        return self.step in self.deep_steps

    def trainable(self) -> list[nn.Parameter]:
        if "trainable" not in self._static:
            self._static["trainable"] = [
                p for pm in self.param_modules for p in pm.params
            ]
        result: list[nn.Parameter] = self._static["trainable"]
        return result

    def one_device(self) -> bool:
        """Every trainable parameter on one device (so their gradients too); the
        parameters do not move during a run."""
        if "one_device" not in self._static:
            devices = {p.device for p in self.trainable()}
            self._static["one_device"] = len(devices) <= 1
        result: bool = self._static["one_device"]
        return result

    def new_step(self, step: int) -> None:
        self.step = step
        self._cache.clear()

    def grad_norms(self) -> torch.Tensor | None:
        """Per trainable parameter gradient norm this step (0 where grad is None);
        computed once per step and shared by the probes that need it. The weights'
        norms, asked for next by every probe that reads these (and still those of
        before the update: this runs after backward), come in the same fused call."""
        if "grad_norms" not in self._cache:
            params = self.trainable()
            grads = [p.grad for p in params]
            single = self.one_device()
            if "param_norms" in self._cache:
                self._cache["grad_norms"] = norms(grads, params, single)
            else:
                both = norms([*grads, *params], params + params, single)
                count = len(params)
                self._cache["grad_norms"] = None if both is None else both[:count]
                self._cache["param_norms"] = None if both is None else both[count:]
        result: torch.Tensor | None = self._cache["grad_norms"]
        return result

    def param_norms(self) -> torch.Tensor | None:
        if "param_norms" not in self._cache:
            # norms runs under no_grad: the parameters need no detach() each (one
            # dispatched op per tensor per step).
            params = self.trainable()
            self._cache["param_norms"] = norms(params, params, self.one_device())
        result: torch.Tensor | None = self._cache["param_norms"]
        return result

    def per_module(self, per_param: list[float]) -> list[float]:
        """Per-parameter norms -> per-ParamModule norms (sqrt of the sum of squares),
        in Python at the end of the run."""
        totals = [0.0] * len(self.param_modules)
        index = 0
        for position, pm in enumerate(self.param_modules):
            for _ in pm.params:
                totals[position] += per_param[index] ** 2
                index += 1
        return [math.sqrt(total) for total in totals]


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

    def record(self, result: RunResult) -> None:
        """Write the measurements that are not per-module series (events, lists of
        names, histograms) into their typed fields of ``result``, plain Python values
        only. Called after ``series()`` went into ``result.layers``."""


class StepValues:
    """Device values per (quantity, modules, step): a scalar for one module or a vector
    for several, converted to floats once at the end (one transfer per device).

    A module called several times in one step (one ``nn.ReLU`` instance reused at every
    depth) yields several values; ``combine`` decides which one the step keeps (default:
    the last; the dead-unit and saturation probes keep the worst)."""

    def __init__(self, combine: Callable[[float, float], float] | None = None) -> None:
        self._items: list[tuple[str, list[str], int, torch.Tensor]] = []
        self._combine = combine

    def add(self, quantity: str, module: str, step: int, value: torch.Tensor) -> None:
        self._items.append((quantity, [module], step, value.detach().reshape(1)))

    def add_vector(
        self, quantity: str, modules: list[str], step: int, values: torch.Tensor
    ) -> None:
        self._items.append((quantity, modules, step, values.detach().reshape(-1)))

    def to_series(self, steps: int) -> Series:
        flat = vectors_to_floats([value for _, _, _, value in self._items])
        series: Series = {}
        for (quantity, modules, step, _), numbers in zip(
            self._items, flat, strict=True
        ):
            rows = series.setdefault(quantity, {})
            for module, number in zip(modules, numbers, strict=True):
                row = rows.setdefault(module, [None] * steps)
                previous = row[step]
                if previous is not None and self._combine is not None:
                    number = self._combine(previous, number)
                row[step] = number
        return series


def without_unmeasured(series: Series) -> Series:
    """``series`` with NaN (a call that was not measured) as None, and no row for a
    module never measured (as if its hook had returned early). Changes it in place."""
    for rows in series.values():
        for name, row in list(rows.items()):
            cleaned = [None if v is None or math.isnan(v) else v for v in row]
            if all(v is None for v in cleaned):
                del rows[name]
            else:
                rows[name] = cleaned
    return series


def vectors_to_floats(values: list[torch.Tensor]) -> list[list[float]]:
    """1-d tensors to lists of floats with one concatenation and transfer per device."""
    result: list[list[float]] = [[] for _ in values]
    groups: dict[torch.device, list[int]] = {}
    for i, value in enumerate(values):
        groups.setdefault(value.device, []).append(i)
    for indices in groups.values():
        parts = [values[i].float().reshape(-1) for i in indices]
        flat = torch.cat(parts).cpu().tolist()
        start = 0
        for i, part in zip(indices, parts, strict=True):
            result[i] = flat[start : start + part.numel()]
            start += part.numel()
    return result


def to_floats(values: list[torch.Tensor]) -> list[float]:
    """Scalars to Python floats with one transfer per device."""
    return [row[0] for row in vectors_to_floats([v.reshape(1) for v in values])]


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
