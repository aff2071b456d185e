"""Saturation: the fraction of a tanh/sigmoid-family layer's inputs where the
derivative is
below 10% of its peak.

tanh' = 1 - tanh^2 < 0.1 where |x| > atanh(sqrt(0.9)) = 1.8184; sigmoid' = s(1 - s) <
0.025
where |x| > 2 * 1.8184 = 3.6369 (sigmoid(x) = (1 + tanh(x / 2)) / 2); Hardtanh's
derivative
is 0 outside [min_val, max_val]. Measured on the statistics steps, on a strided sample
of
at most 65536 inputs per call.
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.probes.base import Probe, Series, StepValues

TANH_CUTOFF = math.atanh(math.sqrt(0.9))  # 1.8184 (DESIGN rounds to 1.8183)
SIGMOID_CUTOFF = 2 * TANH_CUTOFF
MAX_VALUES = 65536


def saturated_fraction(module: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    x = x.detach()
    if x.numel() == 0:
        return None
    if x.numel() > MAX_VALUES:  # a strided sample estimates a fraction well enough
        x = x.reshape(-1)[:: x.numel() // MAX_VALUES]
    if isinstance(module, nn.Tanh):
        return (x.abs() > TANH_CUTOFF).float().mean()
    if isinstance(module, nn.Sigmoid):
        return (x.abs() > SIGMOID_CUTOFF).float().mean()
    if isinstance(module, nn.Hardtanh):
        outside = (x < module.min_val) | (x > module.max_val)
        return outside.float().mean()
    return None


SATURATING: tuple[type[nn.Module], ...] = (nn.Tanh, nn.Sigmoid, nn.Hardtanh)


class SaturationProbe(Probe):
    def __init__(self) -> None:
        self.values = StepValues(combine=max)  # a reused module: its worst call

    def attach_step(self, stack: ExitStack) -> None:
        if not self.ctx.stat_step:
            return
        for name, module in self.ctx.named_modules:
            # ReLU6 subclasses Hardtanh but saturates only above; it is a ReLU here.
            if isinstance(module, SATURATING) and not isinstance(module, nn.ReLU6):
                self.ctx.hub.watch(module, self._hook(name))

    def _hook(self, name: str) -> Any:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            if inputs and isinstance(inputs[0], torch.Tensor):
                value = saturated_fraction(module, inputs[0])
                if value is not None:
                    self.values.add(Q.SATURATION_FRACTION, name, self.ctx.step, value)

        return hook

    def series(self) -> Series:
        return self.values.to_series(self.ctx.steps)
