"""Update ratio: measured ``||w_after - w_before|| / ||w_before||`` per module.

Measured around ``optimizer.step()`` rather than derived from ``lr * grad``, so it is
right for Adam, weight decay, momentum and schedulers.

No second copy of the parameters: a tensor of at most ``SAMPLE`` elements is copied
whole (exact); a larger one keeps only a fixed, seeded subset of ``SAMPLE`` coordinates
chosen once per run, and ``||dw||^2`` is estimated as ``numel / SAMPLE`` times the
subset's sum of squares (an unbiased estimate of the squared norm; its square root is
the ratio's numerator). ``||w_before||`` is exact (the run context's fused norms).
A tensor is sampled only where its subset (values and int32 indices) is smaller than
the tensor, so the extra memory is at most ``sum over tensors of min(tensor bytes,
SAMPLE * (element size + 4))``: never more than one copy of the parameters, and at most
32 KiB per float32 tensor whatever its size. The measured estimation error is in
docs/health/update_ratio.md.
"""

from __future__ import annotations

import math

import torch

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.judge.measured import UpdateMemory
from pytest_nnhealth.judge.records import RunResult
from pytest_nnhealth.probes.base import Probe, Series, vectors_to_floats

# ratio = ||dw|| / max(||w||, scale_floor * sqrt(n)); the floor is the
# Thresholds.update_scale_floor field (its evidence is there), this its default.
SCALE_FLOOR = 1e-2
SAMPLE = 4096  # coordinates kept per tensor; relative error ~ 1/sqrt(SAMPLE) at worst
SAMPLE_SEED = 0x5EED  # a private generator: the run's RNG stream is left untouched


class _Tracked:
    """One trainable tensor: its flat view's sampled coordinates (None = all) and the
    values they held before the step."""

    def __init__(
        self, param: torch.Tensor, sample: int | None, generator: torch.Generator
    ) -> None:
        self.param = param
        numel = param.numel()
        self.index: torch.Tensor | None = None
        self.scale = 1.0
        # Sampled only where the subset (values + int32 indices) is smaller than the
        # whole tensor, so the probe never holds more than one copy of the parameters.
        size = param.element_size()
        if sample is not None and numel * size > sample * (size + 4):
            # With replacement (randperm of a large tensor costs ~1 s): the estimate
            # numel / sample * sum of squares stays unbiased. Sorted: the gather walks
            # memory forwards; int32 halves the index memory.
            picked = torch.randint(numel, (sample,), generator=generator)
            self.index = picked.sort().values.to(param.device, torch.int32)
            self.scale = numel / sample
        self.before = self.values().clone()

    def values(self) -> torch.Tensor:
        """The tracked values now: the whole tensor (its own shape), or the subset."""
        if self.index is None:
            return self.param.detach()
        return self.param.detach().reshape(-1).index_select(0, self.index)

    def bytes(self) -> int:
        held = self.before.numel() * self.before.element_size()
        if self.index is not None:
            held += self.index.numel() * self.index.element_size()
        return held


class UpdateProbe(Probe):
    """``sample=None`` copies every tensor whole (exact; the bench's reference)."""

    def __init__(
        self, sample: int | None = SAMPLE, scale_floor: float = SCALE_FLOOR
    ) -> None:
        self.sample = sample
        self.scale_floor = scale_floor
        self._tracked: list[_Tracked] = []
        self._scales: torch.Tensor | None = None
        self._steps: list[tuple[int, torch.Tensor, torch.Tensor]] = []

    @torch.no_grad()
    def before_update(self) -> None:
        params = self.ctx.trainable()
        if not params:
            return
        self.ctx.param_norms()  # computed (and cached) before the step changes them
        if not self._tracked:
            generator = torch.Generator().manual_seed(SAMPLE_SEED)
            self._tracked = [_Tracked(p, self.sample, generator) for p in params]
            scales = [t.scale for t in self._tracked]
            self._scales = torch.tensor(scales, device=params[0].device).sqrt()
            return
        # Whole tensors in one fused copy (a model with hundreds of small tensors paid
        # one Python-level copy each, every step); subsets one gather each.
        whole = [t for t in self._tracked if t.index is None]
        if whole:
            torch._foreach_copy_([t.before for t in whole], [t.param for t in whole])
        for tracked in self._tracked:
            if tracked.index is not None:
                torch.index_select(
                    tracked.param.detach().reshape(-1), 0, tracked.index,
                    out=tracked.before,
                )  # fmt: skip

    @torch.no_grad()
    def after_update(self) -> None:
        before = self.ctx.param_norms()
        if not self._tracked or before is None or self._scales is None:
            return
        # Whole tensors are read as they are (no_grad: no detach per tensor per step).
        after = [t.param if t.index is None else t.values() for t in self._tracked]
        # before - after in place (the norm is the same; the next before_update
        # overwrites these buffers): no new tensor per parameter per step.
        befores = [t.before for t in self._tracked]
        torch._foreach_sub_(befores, after)
        norms = torch.stack(torch._foreach_norm(befores)).float()
        scaled = norms * self._scales.to(norms.device)
        self._steps.append((self.ctx.step, scaled, before))

    def record(self, result: RunResult) -> None:
        result.update_memory = self.memory()

    def memory(self) -> UpdateMemory:
        sampled = [t for t in self._tracked if t.index is not None]
        return UpdateMemory(
            extra_bytes=sum(t.bytes() for t in self._tracked),
            tensors=len(self._tracked),
            sampled_tensors=len(sampled),
            sample=self.sample,
            parameter_bytes=sum(
                t.param.numel() * t.param.element_size() for t in self._tracked
            ),
        )

    def series(self) -> Series:
        ctx = self.ctx
        names = [pm.name for pm in ctx.param_modules]
        floors = [
            self.scale_floor * math.sqrt(sum(p.numel() for p in pm.params))
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
        return {Q.UPDATE_RATIO: ratios}
