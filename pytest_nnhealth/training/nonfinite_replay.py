"""Where the first NaN/Inf came from: a replay with the non-finite locator.

A healthy run does not pay for the locator. After the run, the cheap per-step
detection (loss, gradient norms, activation statistics) says whether and at which
step a NaN/Inf appeared; only then are steps 0..that step replayed, same seed (so the
same trajectory on CPU), with the locator attached to every module. ``runner.run``
is looked up at each call, so a wrapper put on it (benches, tests) sees every run.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.judge.records import HUGE_AT_INIT, NonfiniteEvent, RunResult
from pytest_nnhealth.probes.nonfinite import NonFiniteProbe
from pytest_nnhealth.training import runner
from pytest_nnhealth.training.runner import RunSpec


def run_and_locate(
    model: nn.Module,
    memo: dict[int, Any],
    spec: RunSpec,
    fresh: Callable[[], tuple[nn.Module, dict[int, Any], RunSpec]],
) -> RunResult:
    """``run``, then, when a NaN/Inf appeared, a replay up to that step with the
    non-finite locator on ``fresh()`` (a new copy, or the restored original): the
    result handed to the judge already says where the first NaN/Inf came from."""
    result = runner.run(model, memo, spec)
    bad_step = first_nonfinite_step(result)
    if bad_step is not None:
        work, work_memo, replay = fresh()
        result.nonfinite = locate_nonfinite(work, work_memo, replay, bad_step)
    return result


def first_nonfinite_step(result: RunResult) -> int | None:
    """The first step where the loss, a gradient norm or an activation statistic is
    NaN/Inf: the cheap per-step detection that decides whether to replay with the
    non-finite locator."""
    candidates = [s for s, v in enumerate(result.losses) if not math.isfinite(v)]
    for stats in result.layers.values():
        for key in (Q.ACT_MEAN, Q.ACT_STD, Q.GRAD_NORM):
            for step, value in enumerate(stats.series.get(key, [])):
                if value is not None and not math.isfinite(value):
                    candidates.append(step)
                    break
    return min(candidates, default=None)


def locate_nonfinite(
    model: nn.Module, memo: dict[int, Any], spec: RunSpec, step: int
) -> NonfiniteEvent | None:
    """Replay steps 0..``step`` (same seed, so the same trajectory on CPU) with the
    non-finite locator attached to every module."""
    replay = dataclasses.replace(spec, steps=step + 1, held=False, stopper=None)
    huge = huge_at_init(model)  # the copy has not been trained yet
    try:
        event = runner.run(model, memo, replay, [NonFiniteProbe()]).nonfinite
    except Exception:  # noqa: BLE001 - the first run got past this step; do not mask it
        return None
    return dataclasses.replace(event, huge_at_init=huge) if event else None


@torch.no_grad()
def huge_at_init(model: nn.Module) -> tuple[tuple[str, float], ...]:
    """Trainable parameters holding NaN/Inf or values of at least ``HUGE_AT_INIT``,
    with their largest magnitude, largest first (only run when a NaN/Inf occurred)."""
    found = []
    for name, param in model.named_parameters():
        if param.requires_grad and param.numel() and param.is_floating_point():
            largest = float(param.detach().abs().max())
            if not largest < HUGE_AT_INIT:  # NaN compares False
                found.append((name, largest))
    return tuple(sorted(found, key=_magnitude, reverse=True))


def _magnitude(item: tuple[str, float]) -> float:
    return math.inf if math.isnan(item[1]) else item[1]
