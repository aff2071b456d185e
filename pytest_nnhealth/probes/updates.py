"""Update ratio: measured ``||w_after - w_before|| / ||w_before||`` per module.

Measured around ``optimizer.step()`` rather than derived from ``lr * grad``, so it is
right
for Adam, weight decay, momentum and schedulers. Costs one copy of the trainable
parameters (reused every step, so memory does not grow with the number of steps) and two
fused norm launches.
"""

from __future__ import annotations

import math

import torch

from pytest_nnhealth.probes.base import Probe, Series, vectors_to_floats

# The scale a parameter is judged against never drops below this RMS per element:
# ratio = ||dw|| / max(||w||, SCALE_FLOOR * sqrt(n)). Default-initialised weights sit
# above it (PyTorch's Linear/Conv init has RMS 1/sqrt(3 fan_in) >= 0.01 up to fan_in
# 3,300; BERT/GPT-2/ViT use std 0.02), so for them the ratio is unchanged. Parameters
# initialised far below it on purpose (layer scale 1e-6..1e-5 in ConvNeXt, CaiT,
# PoolFormer, ResMLP) are meant to grow from almost nothing: their first Adam step
# (~lr per element) is 1,000x their own norm but 0.1x the floor at lr 1e-3.
# docs/health/update_ratio.md.
SCALE_FLOOR = 1e-2


class UpdateProbe(Probe):
    def __init__(self) -> None:
        self._before: list[torch.Tensor] = []
        self._steps: list[tuple[int, torch.Tensor, torch.Tensor]] = []

    @torch.no_grad()
    def before_update(self) -> None:
        params = [p.detach() for p in self.ctx.trainable()]
        if not params:
            return
        self.ctx.param_norms()  # computed (and cached) before the step changes them
        if len(self._before) != len(params):
            self._before = [p.clone() for p in params]
        else:
            torch._foreach_copy_(self._before, params)

    @torch.no_grad()
    def after_update(self) -> None:
        params = [p.detach() for p in self.ctx.trainable()]
        before = self.ctx.param_norms()
        if not params or before is None:
            return
        diffs = torch._foreach_sub(params, self._before)
        self._steps.append(
            (self.ctx.step, torch.stack(torch._foreach_norm(diffs)), before)
        )

    def series(self) -> Series:
        ctx = self.ctx
        names = [pm.name for pm in ctx.param_modules]
        floors = [
            SCALE_FLOOR * math.sqrt(sum(p.numel() for p in pm.params))
            for pm in ctx.param_modules
        ]
        ratios: dict[str, list[float | None]] = {n: [None] * ctx.steps for n in names}
        flat = vectors_to_floats([t for _, d, b in self._steps for t in (d, b)])
        for index, (step, _, _) in enumerate(self._steps):
            diff = ctx.per_module(flat[2 * index])
            before = ctx.per_module(flat[2 * index + 1])
            for name, d, b, floor in zip(names, diff, before, floors, strict=True):
                # ||w_before|| == 0 (zero-initialised): not measurable; the judge
                # skips the first updates of such a module (judge_base.settled).
                ratios[name][step] = d / max(b, floor) if b > 0 else None
        return {"update_ratio": ratios}
