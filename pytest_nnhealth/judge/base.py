"""Shared pieces of the judge: the two judging rules (trailing window, worst single
step), finding construction with the one-line message, and series access.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.judge.hints import HINTS, hint
from pytest_nnhealth.judge.records import HealthFinding, RunResult

Values = list[float | None]


def trailing_run(
    values: Values, bad: Callable[[float], bool], window: int
) -> tuple[int, float] | None:
    """(first step of the final out-of-range run, last value) if the last ``window``
    measured values are all out of range, else None."""
    measured = [(step, v) for step, v in enumerate(values) if v is not None]
    if not measured:
        return None
    tail = measured[-min(window, len(measured)) :]
    if not all(bad(v) for _, v in tail):
        return None
    start = len(measured) - 1
    while start > 0 and bad(measured[start - 1][1]):
        start -= 1
    return measured[start][0], measured[-1][1]


def first_bad(
    values: Sequence[float | None], bad: Callable[[float], bool]
) -> tuple[int, float] | None:
    """(first out-of-range step, worst-by-magnitude out-of-range value)."""
    hits = [(step, v) for step, v in enumerate(values) if v is not None and bad(v)]
    if not hits:
        return None
    return hits[0][0], max(
        (v for _, v in hits), key=lambda v: abs(v) if v == v else 1e308
    )


def finding(
    check: str,
    module: str,
    kind: str,
    value: float | None,
    limit: str,
    step: int | None,
    detail: str | None = None,
) -> HealthFinding:
    what = HINTS[check][0]
    where = f"`{module}`" + (f" ({kind})" if kind else "") if module else "the model"
    shown = detail or (f"{fmt(value)} {what}" if value is not None else what)
    since = f" from step {step}" if step is not None else ""
    healthy = f", healthy {limit}" if limit else ""
    message = f"{check} in {where}: {shown}{since}{healthy}; {hint(check)}"
    return HealthFinding(check, module, value, limit, step, message, hint(check))


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value != value or math.isinf(value):
        return str(value)
    return f"{value:.2f}" if 0.01 <= abs(value) < 1000 else f"{value:.2e}"


def kind_of(result: RunResult, name: str) -> str:
    stats = result.layers.get(name)
    return stats.type if stats is not None else ""


def series_of(result: RunResult, quantity: str) -> dict[str, Values]:
    return {
        name: stats.series[quantity]
        for name, stats in result.layers.items()
        if quantity in stats.series
    }


def started_at_zero(result: RunResult, name: str) -> bool:
    """True when a module's parameters were all zero at its first measured step
    (``grad_relative`` is None there while its gradient norm is measured)."""
    stats = result.layers.get(name)
    if stats is None:
        return False
    norms = stats.series.get(Q.GRAD_NORM, [])
    relative = stats.series.get(Q.GRAD_RELATIVE, [])
    first = next((s for s, v in enumerate(norms) if v is not None), None)
    return first is not None and first < len(relative) and relative[first] is None


def settled(values: Values, window: int) -> Values:
    """Drop the first 2 * window measured steps of a module that starts at zero weights:
    its k-th update is ~1/k of its norm (1.0, 0.5, 0.33, ...) by construction. NaN
    values stay out of the comparison (reported as nonfinite)."""
    if not values or values[0] is not None:
        return values
    kept: Values = []
    seen = 0
    for value in values:
        seen += value is not None
        kept.append(value if seen > 2 * window else None)
    return kept


def ratios(num: Values, den: Values) -> Values:
    return [
        a / b if a is not None and b is not None and b > 0 else None
        for a, b in zip(num, den, strict=True)
    ]
