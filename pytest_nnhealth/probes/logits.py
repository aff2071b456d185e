"""The model's output logits per step: the largest logit and the log-partition.

A forward hook on the model itself takes its output (the ``logits`` field of a
transformers output, else the first floating-point tensor) and, over the last axis
(classes or vocabulary), measures per step:

* ``logit_max``: the largest absolute logit in the batch;
* ``logit_lse``: the mean over rows of ``logsumexp`` (the log-partition ``log Z``,
  what z-loss pulls towards 0);
* ``logit_mean``: the mean logit, the part of ``log Z`` that the softmax cannot see
  (adding a constant to every logit changes no probability): ``log Z`` minus it is
  the spread the predictions need, so drift of the mean is drift nothing trains back.

* ``logit_shift_grad``: ``sum |sum_c dL/dz_c| / sum |dL/dz|`` from a hook on the
  logits' gradient: ~0 when the loss sees the logits through a softmax over the last
  axis (cross-entropy: a shift of every logit changes nothing), ~1 for a regression
  loss, whose outputs may legitimately move by any constant. The judge reads drift
  only where this says "softmax".

Measured on the sampled (activation-statistics) steps: a few cheap reductions,
kept on the device until the end. Outputs with fewer than 2 entries on the last axis
(a single regression value or a binary logit) are not measured: there is no
partition to drift.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.probes.base import (
    Probe,
    RunContext,
    Series,
    StepValues,
    tensor_leaves,
)
from pytest_nnhealth.probes.quiet import unseen

# The report's row for the whole model's output (module name of the root).
OUTPUT = ""


def output_logits(output: Any) -> torch.Tensor | None:
    logits = getattr(output, "logits", None)
    if not isinstance(logits, torch.Tensor):
        logits = next(tensor_leaves(output), None)
    if logits is None or logits.is_complex() or logits.dim() < 2:
        return None
    if logits.shape[-1] < 2 or logits.numel() == 0:
        return None
    return logits


class LogitProbe(Probe):
    def __init__(self) -> None:
        self.values = StepValues()

    def attach(self, ctx: RunContext, stack: ExitStack) -> None:
        super().attach(ctx, stack)
        stack.enter_context(ctx.model.register_forward_hook(unseen(self._hook)))

    def _hook(self, module: nn.Module, inputs: Any, output: Any) -> None:
        if not self.ctx.stat_step:
            return
        logits = output_logits(output)
        if logits is None:
            return
        with torch.no_grad():
            flat = logits.detach().float().reshape(-1, logits.shape[-1])
            step = self.ctx.step
            self.values.add(Q.LOGIT_MAX, OUTPUT, step, flat.abs().amax())
            lse = torch.logsumexp(flat, dim=-1).mean()
            self.values.add(Q.LOGIT_LSE, OUTPUT, step, lse)
            self.values.add(Q.LOGIT_MEAN, OUTPUT, step, flat.mean())
        if logits.requires_grad:
            logits.register_hook(self._grad_hook(self.ctx.step))

    def _grad_hook(self, step: int) -> Any:
        def hook(grad: torch.Tensor) -> None:
            with torch.no_grad():
                grad = grad.detach().float()
                total = grad.abs().sum().clamp_min(1e-30)
                shift = grad.sum(dim=-1).abs().sum() / total
                self.values.add(Q.LOGIT_SHIFT_GRAD, OUTPUT, step, shift)

        return hook

    def series(self) -> Series:
        return self.values.to_series(self.ctx.steps)
