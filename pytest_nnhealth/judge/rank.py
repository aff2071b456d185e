"""Rank collapse: where, and from which step, hidden outputs start pointing one way."""

from __future__ import annotations

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.judge.base import (
    Values,
    finding,
    fmt,
    kind_of,
    series_of,
)
from pytest_nnhealth.judge.hints import HINTS
from pytest_nnhealth.judge.records import HealthFinding, RunResult
from pytest_nnhealth.judge.thresholds import Thresholds

# Outputs that are probability distributions, not representations: every row sums to 1,
# so all rows share the direction of the uniform distribution by construction (a
# near-uniform attention map at init is "rank one" on this statistic).
DISTRIBUTION_KINDS = frozenset({"Softmax", "Softmin", "Softmax2d"})
# A sigmoid's output is 0.5 + x/4 for a small input x: an offset the size of its whole
# range, shared by every row, so its uncentred rows point one way whenever its input
# is small, as a gate's is at init (ECA's channel gate reads 0.98 while its input reads
# 0.3-0.7 on timm ECA-HaloNeXt). The two ways a sigmoid can really lose the samples'
# differences are judged elsewhere: a collapsed input where that input is produced,
# saturated units by the saturation rule.
OFFSET_KINDS = frozenset({"Sigmoid", "Hardsigmoid"})
# Pass-through modules cannot start a collapse: their output is their input (dropped
# out at random); where it starts is the module that produced it.
PASS_THROUGH_KINDS = frozenset(
    {"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "Identity",
     "DropPath"}
)  # fmt: skip
# The kinds whose rank the rule never reads, neither as a starter's output nor as a
# later module's input (the "passed on" test reads judged modules only): the rank
# probe does not measure them (issue 10: 9 Identity + 9 Dropout of MLP-Mixer's 37).
UNJUDGED_KINDS = DISTRIBUTION_KINDS | PASS_THROUGH_KINDS | OFFSET_KINDS


def _above(values: list[float | None] | None, step: int, cap: float) -> bool:
    return values is not None and (values[step] or 0.0) > cap


def _passed_on(
    later: list[str], received: dict[str, Values], step: int, cap: float
) -> bool:
    """Whether a collapse reaches the rest of the net: a later judged module (``later``
    holds no unjudged kind) receives rows that point one way (or no later input was
    measured, so it cannot be told). A pass-through's or a gate's input is not read:
    the module after it receives what it passes on. Rows
    that point one way on a side path and nowhere after it (a gate that starts as a
    constant 1, gMLP's spatial gating; a modulation) multiply or add to a path that
    still tells the samples apart: the model's representation did not collapse."""
    measured = [
        n
        for n in later
        if step < len(received.get(n, [])) and received[n][step] is not None
    ]
    return not measured or any(_above(received[n], step, cap) for n in measured)


def rank_collapse(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    tops = series_of(result, Q.TOP_SV_FRACTION)
    hidden = [
        n
        for n in result.leaves[:-1]
        if n in tops and kind_of(result, n) not in UNJUDGED_KINDS
    ]
    cap = limits.rank_top_fraction_max
    received = series_of(result, Q.INPUT_TOP_SV_FRACTION)
    steps = sorted({s for n in hidden for s, v in enumerate(tops[n]) if v is not None})
    # Per measured step, the modules where a collapse *starts*: output collapsed, input
    # not (or the module reads the batch itself). A module fed rows that already point
    # one way (CaiT's class token: a learned constant behind a 1e-5 layer scale) only
    # passes a collapse on; where the collapse starts may move between steps.
    data_fed = set(result.order[:1])
    judged = [n for n in result.leaves if kind_of(result, n) not in UNJUDGED_KINDS]
    index = {n: i for i, n in enumerate(judged)}

    def starters(step: int) -> list[str]:
        return [
            n
            for n in hidden
            if (v := tops[n][step]) is not None
            and v > cap
            and (n in data_fed or not _above(received.get(n), step, cap))
            and _passed_on(judged[index[n] + 1 :], received, step, cap)
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
