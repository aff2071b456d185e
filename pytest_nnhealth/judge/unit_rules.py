"""Per-unit state rules: dead ReLU-family units (with the small-sample and
small-layer corrections) and saturated tanh/sigmoid inputs."""

from __future__ import annotations

import math

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.judge.base import (
    finding,
    fmt,
    kind_of,
    series_of,
    trailing_run,
)
from pytest_nnhealth.judge.records import HealthFinding, RunResult
from pytest_nnhealth.judge.thresholds import Thresholds


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

# A dead fraction counts whole units, so a narrow layer's fraction is a coarse and noisy
# estimate: with 16 units, 7 dead (0.44) happens to a layer whose units die at the
# healthy rate with probability ~8%. A finding needs a dead count a layer dying at
# HEALTHY_DEAD_RATE (healthy ReLU nets: up to ~25%, thresholds.py) reaches with
# probability below DEAD_COUNT_P; from ~64 units up that bound is below the 0.40 limit
# and changes nothing. torchvision SqueezeNet 1.1's 16- and 32-unit squeeze layers
# (25% dead at init) read 7/16 and 13/32 on healthy runs; broken nets (> 65% dead)
# stay far above the bound (docs/health/dead_units.md).
HEALTHY_DEAD_RATE = 0.25
DEAD_COUNT_P = 0.01


def dead_count_bound(units: int, rate: float = HEALTHY_DEAD_RATE) -> float:
    """The smallest dead fraction of ``units`` units that a layer whose units die at
    ``rate`` reaches with probability below ``DEAD_COUNT_P`` (binomial upper tail,
    summed in log space: a 4096-unit layer's binomial coefficients overflow a float)."""
    if rate <= 0.0:
        return 1 / units if units else 0.0
    tail = 0.0
    for k in range(units, -1, -1):
        log_term = (
            math.lgamma(units + 1)
            - math.lgamma(k + 1)
            - math.lgamma(units - k + 1)
            + k * math.log(rate)
            + (units - k) * math.log1p(-rate)
        )
        tail += math.exp(log_term)
        if tail >= DEAD_COUNT_P:
            return (k + 1) / units
    return 0.0


def dead_units(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    found = _state_rule(
        result, limits, Q.DEAD_FRACTION, "dead_units", limits.dead_fraction_max
    )
    on = series_of(result, Q.ALWAYS_ON_FRACTION)
    samples = result.dead_samples
    units = result.dead_units
    found = [
        f
        for f in found
        if samples.get(f.module, MIN_DEAD_SAMPLES) >= MIN_DEAD_SAMPLES
        and (
            f.module not in units
            or _beyond_chance(f, units[f.module], limits.dead_fraction_max)
        )
    ]
    out = []
    for item in found:
        aligned = _aligned_on(item, on.get(item.module, []), limits)
        if aligned is None:
            out.append(item)
            continue
        detail = (
            f"{fmt(item.value)} of units dead and {fmt(aligned)} always on: every "
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


def _aligned_on(
    item: HealthFinding, on: list[float | None], limits: Thresholds
) -> float | None:
    """The always-on fraction that shows the dead units are all-or-nothing units of
    aligned rows, or None. Either through the judged window, or at step 0 when the
    units were already dead there: before any update nothing has killed them, so
    units then off for every sample while others are on for every sample are the
    rows' alignment at initialisation, whatever training later does to the share
    that is on."""
    tail = [v for v in on if v is not None][-limits.window :]
    if tail and min(tail) >= limits.aligned_always_on_min:
        return min(tail)
    at_init = on[0] if item.step == 0 and on else None
    if at_init is not None and at_init >= limits.aligned_always_on_min:
        return at_init
    return None


def _beyond_chance(found: HealthFinding, units: int, limit: float) -> bool:
    # The finding's value is the last of its run; the run held above the limit. A
    # limit set below the healthy rate (0.0: "no dead unit at all") lowers the rate
    # chance is measured against with it.
    rate = min(HEALTHY_DEAD_RATE, limit)
    return (
        found.value is not None and found.value >= dead_count_bound(units, rate) - 1e-9
    )


def saturation(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    return _state_rule(
        result,
        limits,
        Q.SATURATION_FRACTION,
        "saturation",
        limits.saturation_fraction_max,
    )
