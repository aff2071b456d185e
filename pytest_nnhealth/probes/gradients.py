"""Gradient norms per parameter-owning module, and relative to the weights.

``grad_norm`` is the norm over a module's own trainable parameters' gradients;
``grad_relative`` is ``||g|| / ||w||`` over the same parameters (None where the weights
are all zero). Per step this costs the two fused ``_foreach_norm`` calls the run context
shares between probes; the per-module combination happens in Python at the end.
"""

from __future__ import annotations

import torch

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.probes.base import Probe, Series, vectors_to_floats


class GradientProbe(Probe):
    def __init__(self) -> None:
        self._steps: list[tuple[int, torch.Tensor, torch.Tensor]] = []

    def after_backward(self) -> None:
        grads, weights = self.ctx.grad_norms(), self.ctx.param_norms()
        if grads is not None and weights is not None:
            self._steps.append((self.ctx.step, grads, weights))

    def series(self) -> Series:
        ctx = self.ctx
        names = [pm.name for pm in ctx.param_modules]
        norms: dict[str, list[float | None]] = {n: [None] * ctx.steps for n in names}
        relative: dict[str, list[float | None]] = {n: [None] * ctx.steps for n in names}
        flat = vectors_to_floats([t for _, g, w in self._steps for t in (g, w)])
        for index, (step, _, _) in enumerate(self._steps):
            grad = ctx.per_module(flat[2 * index])
            weight = ctx.per_module(flat[2 * index + 1])
            for name, g, w in zip(names, grad, weight, strict=True):
                norms[name][step] = g
                relative[name][step] = g / w if w > 0 else None
        return {Q.GRAD_NORM: norms, Q.GRAD_RELATIVE: relative}
