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
import math

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.judge.attention import attention_rules
from pytest_nnhealth.judge.base import (
    finding,
    first_bad,
    fmt,
    kind_of,
    ratios,
    series_of,
    settled,
    trailing_run,
)
from pytest_nnhealth.judge.hints import HINTS
from pytest_nnhealth.judge.moe import judge_routing, unrouted_after_cause
from pytest_nnhealth.judge.order import order_by_cause, position
from pytest_nnhealth.judge.records import HealthFinding, RunResult
from pytest_nnhealth.judge.run_rules import divergence, no_learning, nonfinite, plumbing
from pytest_nnhealth.judge.thresholds import Thresholds

__all__ = ["first_bad", "judge", "trailing_run"]


def judge(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    findings: list[HealthFinding] = []
    for rule in (
        nonfinite,
        divergence,
        no_learning,
        _dead,
        _saturation,
        _depth,
        _gradients,
        _updates,
        plumbing,
        _rank,
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


def _state_rule(
    result: RunResult,
    limits: Thresholds,
    quantity: str,
    check: str,
    limit: float,
) -> list[HealthFinding]:
    out = []
    for name, values in series_of(result, quantity).items():
        hit = trailing_run(values, lambda v: v > limit, limits.window)
        if hit is not None:
            out.append(
                finding(
                    check, name, kind_of(result, name), hit[1], f"< {limit:.2f}", hit[0]
                )
            )
    return out


# Below this many samples per unit, "dead" (inactive on > 95% of samples) means
# "inactive on every sample", which a healthy unit is by chance: healthy ReLU MLPs over
# 10 seeds raise dead_units 10/10 times at batch 1 and 5/10 at batch 2; the worst
# trailing dead fraction is 0.38 at batch 4 (limit 0.40) and 0.28 at batch 8
# (docs/health/index.md, `python bench/dead_units_small_batches.py`).
MIN_DEAD_SAMPLES = 8


def _dead(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    found = _state_rule(
        result, limits, Q.DEAD_FRACTION, "dead_units", limits.dead_fraction_max
    )
    on = series_of(result, Q.ALWAYS_ON_FRACTION)
    samples = result.dead_samples
    found = [
        f for f in found if samples.get(f.module, MIN_DEAD_SAMPLES) >= MIN_DEAD_SAMPLES
    ]
    out = []
    for item in found:
        tail = [v for v in on.get(item.module, []) if v is not None][-limits.window :]
        if not tail or min(tail) < limits.aligned_always_on_min:
            out.append(item)
            continue
        detail = (
            f"{fmt(item.value)} of units dead and {fmt(min(tail))} always on: every "
            "sample in the same linear region (aligned rows)"
        )
        limit = (
            f"dead < {limits.dead_fraction_max:.2f} "
            f"or always on < {limits.aligned_always_on_min:g}"
        )
        kind = kind_of(result, item.module)
        out.append(
            finding(
                "rank_collapse", item.module, kind, item.value, limit, item.step, detail
            )
        )
    return out


def _saturation(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    return _state_rule(
        result,
        limits,
        Q.SATURATION_FRACTION,
        "saturation",
        limits.saturation_fraction_max,
    )


# The signal reaching the end is judged on the last few hidden outputs, not the last
# one alone: a by-design small output there (the class token of CaiT, a branch behind a
# 1e-5 layer scale, a dropout on a pooled token) is not a vanishing signal, while a
# vanishing or exploding signal is progressive and puts all of them out of range.
END_OUTPUTS = 3


def _depth(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    stds = series_of(result, Q.ACT_BATCH_STD)
    leaves = [n for n in result.leaves if n in stds]
    if len(leaves) < 3:
        return []
    first, hidden = leaves[0], leaves[1:-1]  # the last leaf is the output layer
    # Judged at init (step 0), as signal propagation is: training can pull a badly
    # initialised net back into range within the run, the init is still wrong.
    at_init = {n: _init_ratio(stds[n], stds[first]) for n in hidden}
    end = [v for n in hidden[-END_OUTPUTS:] if (v := at_init[n]) is not None]
    if not end:
        return []
    low, high = limits.depth_ratio_min, limits.depth_ratio_max
    for check, bad, value in (
        ("vanishing_activations", lambda v: v < low, max(end)),
        ("exploding_activations", lambda v: v > high, min(end)),
    ):
        if not bad(value):
            continue
        # Name the first hidden output whose ratio is already out of range, measured
        # on finite values (an overflow is the nonfinite finding's, not a growth).
        culprit = next(
            (
                n
                for n in hidden
                if (r := at_init[n]) is not None and math.isfinite(r) and bad(r)
            ),
            None,
        )
        if culprit is None:
            return []
        limit = f"in [{low:g}, {high:g}]"
        kind = kind_of(result, culprit)
        return [finding(check, culprit, kind, value, limit, 0, at_init_detail(value))]
    return []


def _init_ratio(num: list[float | None], den: list[float | None]) -> float | None:
    """Step-0 batch-std ratio; an output that overflowed (NaN/Inf) while the first
    output is finite counts as infinitely grown."""
    a, b = num[0] if num else None, den[0] if den else None
    if a is None or b is None or not math.isfinite(b) or b <= 0:
        return None
    return a / b if math.isfinite(a) else math.inf


def at_init_detail(value: float) -> str:
    return f"{fmt(value)} {HINTS['vanishing_activations'][0]} at init"


def _gradients(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    norms = series_of(result, Q.GRAD_NORM)
    # First and last by execution: a module whose parameters are read without calling
    # it (a relative-position table fetched by a method) has no place in the depth
    # order, and its tiny gradient would stand in for the output layer's.
    ran = set(result.order)
    owners = [n for n in result.param_modules if n in norms and n in ran]
    out: list[HealthFinding] = []
    if len(owners) >= 2:
        ratio = ratios(norms[owners[0]], norms[owners[-1]])
        low, high = limits.grad_ratio_min, limits.grad_ratio_max
        limit = f"first/last in [{low:g}, {high:g}]"
        for check, bad in (
            ("vanishing_gradients", lambda v: v < low),
            ("exploding_gradients", lambda v: v > high),
        ):
            hit = trailing_run(ratio, bad, limits.window)
            if hit is not None:
                out.append(
                    finding(
                        check,
                        owners[0],
                        kind_of(result, owners[0]),
                        hit[1],
                        limit,
                        hit[0],
                    )
                )
    if any(f.check == "exploding_gradients" for f in out):
        return out
    cap = limits.grad_relative_max
    for name, values in series_of(result, Q.GRAD_RELATIVE).items():
        hit = trailing_run(values, lambda v: v > cap, limits.window)
        if hit is not None:
            out.append(
                finding(
                    "exploding_gradients",
                    name,
                    kind_of(result, name),
                    hit[1],
                    f"||g||/||w|| < {cap:g}",
                    hit[0],
                )
            )
    return out


def _updates(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    # A module with no gradient at all is reported by the plumbing rule, not twice.
    plumbing = {
        module for module, _ in [*result.params_without_grad, *result.zero_gradients]
    }
    out = []
    high, low = limits.update_ratio_max, limits.update_ratio_min
    closed = _behind_closed_gate(result, limits)
    for name, values in series_of(result, Q.UPDATE_RATIO).items():
        hit = first_bad(settled(values, limits.window), lambda v: v > high)
        if hit is not None:
            out.append(
                finding(
                    "update_ratio_high",
                    name,
                    kind_of(result, name),
                    hit[1],
                    f"< {high:g}",
                    hit[0],
                )
            )
            continue
        tail = trailing_run(values, lambda v: v < low, limits.window)
        if tail is not None and name not in plumbing and name not in closed:
            out.append(
                finding(
                    "update_ratio_low",
                    name,
                    kind_of(result, name),
                    tail[1],
                    f">= {low:g}",
                    tail[0],
                )
            )
    return out


# Outputs that are probability distributions, not representations: every row sums to 1,
# so all rows share the direction of the uniform distribution by construction (a
# near-uniform attention map at init is "rank one" on this statistic).
DISTRIBUTION_KINDS = frozenset({"Softmax", "Softmin", "Softmax2d"})
# Pass-through modules cannot start a collapse: their output is their input (dropped
# out at random); where it starts is the module that produced it.
PASS_THROUGH_KINDS = frozenset(
    {"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "Identity",
     "DropPath"}
)  # fmt: skip


def _behind_closed_gate(result: RunResult, limits: Thresholds) -> set[str]:
    """Modules with no gradient signal (a closed gate upstream, whose own parameters
    are judged): their small updates are not a too-low learning rate."""
    out = set()
    for name, values in series_of(result, Q.GRAD_RELATIVE).items():
        tail = [v for v in values if v is not None][-limits.window :]
        if tail and max(tail) < limits.closed_gate_grad_relative:
            out.add(name)
    return out


def _above(values: list[float | None] | None, step: int, cap: float) -> bool:
    return values is not None and (values[step] or 0.0) > cap


def _rank(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    tops = series_of(result, Q.TOP_SV_FRACTION)
    hidden = [
        n
        for n in result.leaves[:-1]
        if n in tops
        and kind_of(result, n) not in DISTRIBUTION_KINDS | PASS_THROUGH_KINDS
    ]
    cap = limits.rank_top_fraction_max
    received = series_of(result, Q.INPUT_TOP_SV_FRACTION)
    steps = sorted({s for n in hidden for s, v in enumerate(tops[n]) if v is not None})
    # Per measured step, the modules where a collapse *starts*: output collapsed, input
    # not (or the module reads the batch itself). A module fed rows that already point
    # one way (CaiT's class token: a learned constant behind a 1e-5 layer scale) only
    # passes a collapse on; where the collapse starts may move between steps.
    data_fed = set(result.order[:1])

    def starters(step: int) -> list[str]:
        return [
            n
            for n in hidden
            if (v := tops[n][step]) is not None
            and v > cap
            and (n in data_fed or not _above(received.get(n), step, cap))
        ]

    tail = steps[-limits.window :]
    if not tail or not all(starters(s) for s in tail):
        return []
    onset = tail[0]
    while (earlier := steps.index(onset) - 1) >= 0 and starters(steps[earlier]):
        onset = steps[earlier]
    name = starters(onset)[0]
    value = next(v for v in reversed(tops[name]) if v is not None)
    later = sum(1 for n in hidden if n != name and (tops[n][tail[-1]] or 0) > cap)
    detail = f"{fmt(value)} {HINTS['rank_collapse'][0]}"
    if later:
        detail += f" (and {later} later layer(s))"
    step = onset
    limit = f"sigma_1/sum(sigma) < {cap:.2f}"
    return [
        finding(
            "rank_collapse", name, kind_of(result, name), value, limit, step, detail
        )
    ]
