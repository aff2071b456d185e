"""Turn measured quantities into findings: thresholds in, ``HealthFinding`` list out.

Two judging rules (docs/health/index.md): "state" quantities fire only when out of range
on each of the last ``window`` measured steps (a zero-initialised output layer has zero
upstream gradients at step 0 and recovers), and the step reported is where that final
out-of-range run began; "event" quantities (non-finite values, update ratio too high,
divergence) fire on the worst single step, reporting the first anomalous one. The depth
ratio is a property of the initialisation and is judged at step 0.
"""

from __future__ import annotations

import dataclasses

from pytest_nnhealth.judge.attention import attention_rules
from pytest_nnhealth.judge.base import (
    first_bad,
    trailing_run,
)
from pytest_nnhealth.judge.moe import judge_routing, unrouted_after_cause
from pytest_nnhealth.judge.order import order_by_cause, position
from pytest_nnhealth.judge.rank import rank_collapse
from pytest_nnhealth.judge.records import HealthFinding, RunResult
from pytest_nnhealth.judge.run_rules import divergence, no_learning, nonfinite, plumbing
from pytest_nnhealth.judge.signal_rules import (
    depth_ratio,
    gradient_norms,
    update_ratios,
)
from pytest_nnhealth.judge.thresholds import Thresholds
from pytest_nnhealth.judge.unit_rules import dead_count_bound, dead_units, saturation

__all__ = ["dead_count_bound", "first_bad", "judge", "trailing_run"]


def judge(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    findings: list[HealthFinding] = []
    for rule in (
        nonfinite,
        divergence,
        no_learning,
        dead_units,
        saturation,
        depth_ratio,
        gradient_norms,
        update_ratios,
        plumbing,
        rank_collapse,
        attention_rules,
        judge_routing,
    ):
        findings.extend(rule(result, limits))
    backward = _backward_modules(result)
    findings = _first_collapse(findings, result)
    kept = [
        f
        for f in _drop_unmeasurable(findings, result, backward)
        if f.check not in limits.ignore
    ]
    ordered = order_by_cause(kept, result.order, len(result.losses), backward)
    return unrouted_after_cause(ordered, result)


def _first_collapse(
    findings: list[HealthFinding], result: RunResult
) -> list[HealthFinding]:
    """One rank_collapse, where it starts: aligned ReLU layers and sigma-based layers
    downstream inherit it."""
    steps = len(result.losses)
    collapses = [f for f in findings if f.check == "rank_collapse"]
    if len(collapses) < 2:
        return findings
    first = min(collapses, key=lambda f: position(f, result.order, steps))
    if "later layer(s))" not in first.message:
        more = f" (and {len(collapses) - 1} later layer(s)) from step"
        first = dataclasses.replace(
            first, message=first.message.replace(" from step", more, 1)
        )
    return [f for f in findings if f.check != "rank_collapse"] + [first]


def _backward_modules(result: RunResult) -> frozenset[str]:
    event = result.nonfinite
    if event is not None and event.phase == "backward":
        return frozenset({event.module})
    return frozenset()


# Checks whose measurement a NaN/Inf makes meaningless from the step it appears.
_NUMERIC = {
    "dead_units",
    "saturation",
    "vanishing_activations",
    "exploding_activations",
    "vanishing_gradients",
    "exploding_gradients",
    "update_ratio_low",
    "rank_collapse",
    "attention_entropy_collapse",
    "attention_logit_growth",
    "logit_drift",
}


def _drop_unmeasurable(
    findings: list[HealthFinding], result: RunResult, backward: frozenset[str]
) -> list[HealthFinding]:
    """Drop echoes that measure nothing new: a dead layer's output has no spread (its
    vanishing depth ratio is not news), and from the first NaN/Inf on the statistics
    describe the NaN, not the model. A statistic measured *before* the NaN in the same
    step (a shallower layer's growth that then overflows) is kept: it is the cause."""
    dead = {f.module for f in findings if f.check == "dead_units"}
    steps = len(result.losses)
    nan_at = min(
        (
            position(f, result.order, steps, f.module in backward)
            for f in findings
            if f.check == "nonfinite" and f.step is not None
        ),
        default=None,
    )
    return [
        f
        for f in findings
        if not (f.check == "vanishing_activations" and f.module in dead)
        and not (
            nan_at is not None
            and f.check in _NUMERIC
            and f.step is not None
            and (f.step > nan_at[0] or position(f, result.order, steps) >= nan_at)
        )
    ]
