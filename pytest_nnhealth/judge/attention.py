"""Attention and output-logit symptoms: entropy collapse, attention-logit growth,
output-logit drift.

Entropy collapse is a state (a head whose normalised entropy is below the floor on
each of the last ``window`` measured steps); attention-logit growth and logit drift
compare the end of the run with its start, so a head that starts large (a collapse)
is not called growing, and a model that starts with large logits is not called
drifting. Each finding names the worst head.
"""

from __future__ import annotations

import math

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.judge.base import Values, finding, fmt, kind_of, trailing_run
from pytest_nnhealth.judge.records import HealthFinding, RunResult
from pytest_nnhealth.judge.thresholds import Thresholds

# Below this share of its start the softmax cannot see the logits' shift at all: the
# loss reads the output through a softmax over the last axis (probes/logits.py).
SOFTMAX_AXIS = 1e-3


def attention_rules(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    return [
        *_collapse(result, limits),
        *_growth(result, limits),
        *_drift(result, limits),
    ]


def heads_of(series: dict[str, Values], quantity: str) -> dict[int, Values]:
    """Per-head rows ``quantity_h<j>`` of one module's series."""
    prefix = f"{quantity}_h"
    return {
        int(key[len(prefix) :]): values
        for key, values in series.items()
        if key.startswith(prefix) and key[len(prefix) :].isdigit()
    }


def _measured(values: Values) -> list[tuple[int, float]]:
    return [(step, value) for step, value in enumerate(values) if value is not None]


# A head whose queries see fewer keys than this is not judged for entropy collapse:
# putting most of the weight on one of a few keys is an ordinary thing to learn (DETR's
# cross-attention to a 2 x 2 feature map of a 64 px image: 0.99 -> 0.18 in 25 steps
# with its largest logit at 5, while the loss fell): 0.93 of the weight on one of 4
# keys is normalised entropy 0.24 and takes a logit gap of 3.7; over 16 keys the
# same entropy takes 4.8. The real zoo's heads see 12-42 keys, but CoAtNet's last
# stage (4); both calibration zoos' findings are unchanged (docs/health/attention.md).
MIN_KEYS = 8


def _enough_keys(keys: float | None) -> bool:
    """Judged when the head's queries see at least MIN_KEYS keys, or when that was not
    measured (records made before ``attn_keys``)."""
    return keys is None or keys >= MIN_KEYS


def _collapse(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    floor = limits.attention_entropy_min
    found = []
    for name, stats in result.layers.items():
        keys = heads_of(stats.series, Q.ATTN_KEYS)
        heads = {
            head: values
            for head, values in heads_of(stats.series, Q.ATTN_ENTROPY).items()
            if _enough_keys(_last(keys.get(head)))
        }
        runs = {
            head: run
            for head, values in heads.items()
            if (run := trailing_run(values, lambda v: v < floor, limits.window))
        }
        if not runs:
            continue
        head = min(runs, key=lambda h: (runs[h][1], h))
        step, value = runs[head]
        near = _last(heads_of(stats.series, Q.ATTN_ONE_KEY_FRACTION).get(head))
        more = f"; {len(runs)} of {len(heads)} heads collapsed" if len(runs) > 1 else ""
        detail = (
            f"head {head}: normalised attention entropy {fmt(value)} "
            f"({fmt(near)} of queries on one key){more}"
        )
        limit = f"> {floor:.2f}"
        found.append(
            finding(
                "attention_entropy_collapse",
                name,
                kind_of(result, name),
                value,
                limit,
                step,
                detail,
            )
        )
    return found


def _growth(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    found = []
    for name, stats in result.layers.items():
        spreads = heads_of(stats.series, Q.ATTN_LOGIT_SPREAD)
        grown = {
            head: run
            for head, values in heads_of(stats.series, Q.ATTN_LOGIT_MAX).items()
            if (run := _grown(values, spreads.get(head), limits))
        }
        if not grown:
            continue
        head = max(grown, key=lambda h: (grown[h][2], -h))
        step, start, value, widening = grown[head]
        detail = (
            f"head {head}: largest attention logit {fmt(start)} -> {fmt(value)} "
            f"({fmt(value / start)}x)"
        )
        if widening is not None:
            detail += f", typical logit spread {fmt(widening)}x"
        cap, factor = limits.attention_logit_max, limits.attention_logit_growth
        limit = f"< {cap:g}, or < {factor:g}x its start"
        found.append(
            finding(
                "attention_logit_growth",
                name,
                kind_of(result, name),
                value,
                limit,
                step,
                detail,
            )
        )
    return found


def _grown(
    largest: Values, spread: Values | None, limits: Thresholds
) -> tuple[int, float, float, float | None] | None:
    """``(onset, start, last, spread growth)`` of a head whose largest logit is above
    the cap and above ``attention_logit_growth`` times its start, with its typical
    spread grown by as much (the head's logits grew as a whole, not one query's), on
    each of the last ``window`` measured steps; else None. A run recorded without the
    spread (an older report) is judged on the largest logit alone; its spread growth
    is None."""
    cap, factor = limits.attention_logit_max, limits.attention_logit_growth
    points = _measured(largest)
    if len(points) < 2 or points[0][1] <= 0:
        return None
    start = points[0][1]
    spreads = dict(_measured(spread or []))
    spread_start = next(iter(spreads.values()), 0.0)

    def growing(step: int, value: float) -> bool:
        widened = (
            spread_start <= 0 or spreads.get(step, math.inf) > factor * spread_start
        )
        return value > cap and value > factor * start and widened

    tail = points[-min(limits.window, len(points)) :]
    if not all(growing(s, v) for s, v in tail):
        return None
    onset = next(s for s, v in points if growing(s, v))
    last_spread = list(spreads.values())[-1] if spreads else 0.0
    widening = last_spread / spread_start if spread_start > 0 else None
    return onset, start, tail[-1][1], widening


def _drift(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    stats = result.layers.get("")
    if stats is None or Q.LOGIT_MEAN not in stats.series:
        return []
    # Read at the first measured step: once a model is confident its gradient is
    # tiny and the rounding of p - 1 dominates the sum (a memorising MobileNet reads
    # ~1e-2 by step 20 under plain cross-entropy).
    axis = _measured(stats.series.get(Q.LOGIT_SHIFT_GRAD, []))
    if not axis or axis[0][1] > SOFTMAX_AXIS:
        return []  # not a softmax over the last axis: a shift may be the signal
    means = _measured(stats.series[Q.LOGIT_MEAN])
    if len(means) < 2:
        return []
    start = means[0][1]
    cap = limits.logit_shift_max
    seen = _while_the_loss_reads_logits(stats.series)
    shifted = [None if v is None else v - start for v in seen]
    run = trailing_run(shifted, lambda v: abs(v) > cap, limits.window)
    if run is None:
        return []
    step, value = run
    lse = _measured(stats.series.get(Q.LOGIT_LSE, []))
    detail = f"mean output logit drifted {value:+.2f} nats from step 0"
    if lse:
        detail += f" (log Z {fmt(lse[0][1])} -> {fmt(lse[-1][1])})"
    limit = f"|drift| < {cap:g} nats"
    return [finding("logit_drift", "", "", value, limit, step, detail)]


def _while_the_loss_reads_logits(series: dict[str, Values]) -> Values:
    """The mean-logit series up to the first step where the loss's gradient along
    the all-ones direction is no longer ~0. Under a softmax that share is exactly 0
    in exact arithmetic; once it is not, the loss has saturated on the batch (a
    memorised batch reaches a loss of exactly 0.0 in float32) and the gradient is
    rounding noise, which Adam still turns into lr-sized steps: logits that move
    then were not steered by the loss, so their mean is not a drift it failed to see
    (timm NF-ResNet-26: loss 0.0 from step 9, mean logit -10 by step 24)."""
    means = series[Q.LOGIT_MEAN]
    axis = series.get(Q.LOGIT_SHIFT_GRAD, [])
    for step, share in enumerate(axis):
        if step > 0 and share is not None and share > SOFTMAX_AXIS:
            return means[:step]
    return means


def _last(values: Values | None) -> float | None:
    measured = _measured(values or [])
    return measured[-1][1] if measured else None
