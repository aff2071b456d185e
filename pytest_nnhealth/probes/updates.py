"""Update ratio: measured ``||w_after - w_before|| / ||w_before||`` per module.

Measured around ``optimizer.step()`` rather than derived from ``lr * grad``, so it is
right
for Adam, weight decay, momentum and schedulers. Costs one copy of the trainable
parameters (reused every step, so memory does not grow with the number of steps) and two
fused norm launches.
"""

from __future__ import annotations

import torch

from pytest_nnhealth.probes.base import Probe, Series, StepValues, combine_per_module


class UpdateProbe(Probe):
    def __init__(self) -> None:
        self.values = StepValues()
        self._before: list[torch.Tensor] = []

    @torch.no_grad()
    def before_update(self) -> None:
        params = [p.detach() for p in self.ctx.trainable()]
        if not params:
            return
        if len(self._before) != len(params):
            self._before = [p.clone() for p in params]
        else:
            torch._foreach_copy_(self._before, params)

    @torch.no_grad()
    def after_update(self) -> None:
        ctx = self.ctx
        params = [p.detach() for p in ctx.trainable()]
        if not params:
            return
        diffs = torch._foreach_sub(params, self._before)
        diff_norms = torch.stack([n.float() for n in torch._foreach_norm(diffs)])
        before_norms = torch.stack(
            [n.float() for n in torch._foreach_norm(self._before)]
        )
        diff = combine_per_module(diff_norms, ctx)
        before = combine_per_module(before_norms, ctx)
        # -1 marks ||w_before|| == 0 (zero-initialised): not measurable; NaN stays NaN.
        ratio = torch.where(before == 0, -1.0, diff / before.clamp_min(1e-30))
        names = [pm.name for pm in ctx.param_modules]
        self.values.add_vector("update_ratio", names, ctx.step, ratio)

    def series(self) -> Series:
        series = self.values.to_series(self.ctx.steps)
        for row in series.get("update_ratio", {}).values():
            row[:] = [None if v is not None and v < 0 else v for v in row]
        return series
