"""Non-finite values: the first module, in execution order, whose output is NaN/Inf
while its inputs are finite, in forward and in backward, with the step.

Forward: a hook on every module sums each output in float64 (one kernel; a NaN or Inf
anywhere makes the sum non-finite, and finite values cannot overflow it) and looks its
inputs up among the outputs already checked this step (by identity, through weak
references), so a chain of modules checks each tensor once. Backward: a tensor hook on
each output records whether the gradient arriving at it is finite; the culprit is the
module whose own parameters' gradients, or whose input gradient, turned non-finite
while its output gradient was finite.
"""

from __future__ import annotations

import weakref
from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

from pytest_nnhealth.judge.records import NonfiniteEvent, RunResult
from pytest_nnhealth.probes.base import Probe, RunContext, tensor_leaves, to_floats


def _bad(tensor: torch.Tensor) -> torch.Tensor:
    """Whether ``tensor`` holds a NaN or an Inf, as a device bool: its sum is
    non-finite exactly then when taken in float64 (float32 values cannot overflow
    it). In float32, finite masks of ``-finfo.max`` (x-transformers' pre-softmax
    scores, returned as an output) summed to -inf. A float64 tensor is tested
    value by value."""
    tensor = tensor.detach()
    if tensor.dtype == torch.float64 or tensor.is_complex():
        return ~torch.isfinite(tensor).all()
    return ~torch.isfinite(tensor.sum(dtype=torch.float64))


class NonFiniteProbe(Probe):
    def __init__(self) -> None:
        self._checked: dict[int, tuple[weakref.ref[torch.Tensor], torch.Tensor]] = {}
        self._forward: list[tuple[int, str, torch.Tensor]] = []
        self._backward: list[tuple[int, str, torch.Tensor]] = []
        self._param_bad: list[torch.Tensor] = []

    def attach(self, ctx: RunContext, stack: ExitStack) -> None:
        super().attach(ctx, stack)
        for name, module in ctx.model.named_modules():
            stack.enter_context(module.register_forward_hook(self._hook(name)))

    def start_step(self) -> None:
        self._checked.clear()

    def _input_ok(self, tensor: torch.Tensor) -> torch.Tensor:
        entry = self._checked.get(id(tensor))
        if entry is not None and entry[0]() is tensor:
            return ~entry[1]
        return ~_bad(tensor)

    def _hook(self, name: str) -> Any:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            outs = list(tensor_leaves(output))
            if not outs:
                return
            out_bad = [_bad(t) for t in outs]
            ins = list(tensor_leaves(inputs))
            inputs_ok = (
                torch.stack([self._input_ok(t) for t in ins]).all() if ins else True
            )
            for tensor, bad in zip(outs, out_bad, strict=True):
                self._checked[id(tensor)] = (weakref.ref(tensor), bad)
                if tensor.requires_grad:
                    tensor.register_hook(self._grad_hook(name))
            flag = torch.stack(out_bad).any() & torch.as_tensor(inputs_ok)
            self._forward.append((self.ctx.step, name, flag))

        return hook

    def _grad_hook(self, name: str) -> Any:
        step = self.ctx.step

        def hook(grad: torch.Tensor) -> None:
            self._backward.append((step, name, _bad(grad)))

        return hook

    def after_backward(self) -> None:
        norms = self.ctx.grad_norms()
        if norms is not None:
            self._param_bad.append(~torch.isfinite(norms))

    def record(self, result: RunResult) -> None:
        result.nonfinite = self.first_event()

    def first_event(self) -> NonfiniteEvent | None:
        forward = _flags(self._forward)
        backward = _flags(self._backward)
        param_bad = [to_floats(list(row)) for row in self._param_bad]
        for step in range(self.ctx.steps):
            culprit = next((n for s, n, bad in forward if s == step and bad), None)
            if culprit is not None:
                return NonfiniteEvent(step, culprit, "forward")
            culprit = self._backward_culprit(step, backward, param_bad)
            if culprit is not None:
                return NonfiniteEvent(step, culprit, "backward")
        return None

    def _backward_culprit(
        self,
        step: int,
        backward: list[tuple[int, str, bool]],
        param_bad: list[list[float]],
    ) -> str | None:
        records = [(n, bad) for s, n, bad in backward if s == step]
        bad_out = {n for n, bad in records if bad}
        per_param = param_bad[step] if step < len(param_bad) else []
        owners = self.ctx.param_modules
        owner_of = [i for i, pm in enumerate(owners) for _ in pm.params]
        bad_owner = [False] * len(owners)
        for owner, flag in zip(owner_of, per_param, strict=False):
            bad_owner[owner] = bad_owner[owner] or bool(flag)
        # Visit owners as backward does (reverse of definition order, a proxy for
        # forward).
        for pm, flag in reversed(list(zip(owners, bad_owner, strict=True))):
            if flag and pm.name not in bad_out:
                return pm.name
        for index, (_, bad) in enumerate(records):
            if bad:
                return records[index - 1][0] if index > 0 else "loss_fn"
        return None


def _flags(items: list[tuple[int, str, torch.Tensor]]) -> list[tuple[int, str, bool]]:
    values = to_floats([flag.float() for _, _, flag in items]) if items else []
    return [(s, n, v != 0) for (s, n, _), v in zip(items, values, strict=True)]
