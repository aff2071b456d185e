"""Gradient norms per parameter-owning module, and relative to the weights.

``grad_norm`` is the norm over a module's own trainable parameters' gradients;
``grad_relative`` is ``||g|| / ||w||`` over the same parameters. Both come from the
per-parameter norms the run context computes once per step (one fused
``_foreach_norm``).
"""

from __future__ import annotations

import torch

from pytest_nnhealth.probes.base import Probe, Series, StepValues, combine_per_module


class GradientProbe(Probe):
    def __init__(self) -> None:
        self.values = StepValues()

    def after_backward(self) -> None:
        ctx = self.ctx
        grads = ctx.grad_norms()
        weights = ctx.param_norms()
        if grads is None or weights is None:
            return
        names = [pm.name for pm in ctx.param_modules]
        grad = combine_per_module(grads, ctx)
        weight = combine_per_module(weights, ctx)
        # -1 marks zero weights (zero-initialised): relative gradient not measurable.
        relative = torch.where(weight == 0, -1.0, grad / weight.clamp_min(1e-30))
        self.values.add_vector("grad_norm", names, ctx.step, grad)
        self.values.add_vector("grad_relative", names, ctx.step, relative)

    def series(self) -> Series:
        series = self.values.to_series(self.ctx.steps)
        relative = series.get("grad_relative", {})
        for row in relative.values():
            row[:] = [None if v is not None and v < 0 else v for v in row]
        return series
