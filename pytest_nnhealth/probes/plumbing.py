"""Gradient plumbing: trainable parameters whose gradient is None on every step or
exactly
zero on every step, and modules that ran in forward but whose parameters the model does
not
register (e.g. an ``nn.Linear`` kept in a plain list).

The zero/None record is a running flag per parameter (a device OR, no synchronisation);
"every step" gives the window that a zero-initialised output layer needs (its upstream
gradients are exactly zero at step 0 only). Unregistered modules are seen through a
global
forward hook, removed with every other hook.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

from pytest_nnhealth.judge.records import RunResult
from pytest_nnhealth.probes.base import Probe, RunContext, vectors_to_floats


class PlumbingProbe(Probe):
    def __init__(self, ignore: tuple[nn.Module, ...] = ()) -> None:
        # Modules the run itself calls that are not the model's (e.g. a loss module).
        self._ignore = {id(m) for root in ignore for m in root.modules()}
        self._had_grad: list[bool] = []
        self._norms: list[torch.Tensor] = []
        self._unregistered: dict[int, tuple[str, str]] = {}
        self._keep: list[nn.Module] = []

    def attach(self, ctx: RunContext, stack: ExitStack) -> None:
        super().attach(ctx, stack)
        self._registered = {id(m) for m in ctx.model.modules()}
        self._had_grad = [False] * len(ctx.trainable())

    def attach_step(self, stack: ExitStack) -> None:
        # A global hook runs for every module call; the statistics steps see the forward
        # often enough (an unregistered module that runs only sometimes is still seen on
        # one of them in practice).
        if self.ctx.stat_step:
            self.ctx.hub.watch_others(self._global_hook)

    def _global_hook(self, module: nn.Module, inputs: Any, output: Any) -> None:
        key = id(module)
        if key in self._registered or key in self._ignore or key in self._unregistered:
            return
        if any(True for _ in module.parameters(recurse=False)):
            self._unregistered[key] = (
                locate(self.ctx.model, module),
                type(module).__name__,
            )
            self._keep.append(module)  # keeps id() unique while we hold the key

    def after_backward(self) -> None:
        params = self.ctx.trainable()
        for i, param in enumerate(params):
            self._had_grad[i] = self._had_grad[i] or param.grad is not None
        norms = self.ctx.grad_norms()
        if norms is not None:
            self._norms.append(norms)  # shared with the gradient probe: no new kernel

    def record(self, result: RunResult) -> None:
        names = [
            (pm.name, pname)
            for pm in self.ctx.param_modules
            for pname, p in pm.module.named_parameters(recurse=False)
            if p.requires_grad
        ]
        rows = vectors_to_floats(self._norms)
        nonzero = [any(row[i] != 0 for row in rows) for i in range(len(names))]
        without, zero = [], []
        for i, (module, pname) in enumerate(names):
            if not self._had_grad[i]:
                without.append((module, pname))
            elif rows and not nonzero[i]:
                zero.append((module, pname))
        result.params_without_grad = without
        result.zero_gradients = zero
        result.unregistered = list(self._unregistered.values())


def locate(model: nn.Module, target: nn.Module) -> str:
    """Where the model keeps an unregistered module: ``blocks[1]``, ``heads['a']``..."""
    for prefix, module in model.named_modules():
        for attr, value in vars(module).items():
            items: list[tuple[Any, Any]] = []
            if isinstance(value, (list, tuple)):
                items = list(enumerate(value))
            elif isinstance(value, dict) and not attr.startswith("_"):
                items = list(value.items())
            for key, item in items:
                if item is target:
                    owner = f"{prefix}.{attr}" if prefix else attr
                    return f"{owner}[{key!r}]"
    return f"<unregistered {type(target).__name__}>"
