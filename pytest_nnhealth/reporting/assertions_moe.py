"""Assertion helpers for mixture-of-experts routing (docs/health/moe.md), over the
routing probe's series in a ``HealthReport``: name the router, the expert, the step
and the measured value.
"""

from __future__ import annotations

from collections.abc import Iterable

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.judge.records import HealthReport
from pytest_nnhealth.reporting.expert_load import Loads, router_loads


def expert_loads(
    report: HealthReport, routers: Iterable[str] | None = None
) -> dict[str, Loads]:
    """Tokens per expert per step for every (selected) located router."""
    found = router_loads(report)
    wanted = None if routers is None else list(routers)
    if not found or (wanted and not set(wanted) <= set(found)):
        missing = sorted(set(wanted or []) - set(found)) or "any router"
        raise AssertionError(
            f"no routing measurements for {missing} in {report.model}; located "
            f"routers: {sorted(found) or 'none'} (describe a custom router with "
            "check(..., routers=[Router(...)]))"
        )
    return {name: found[name] for name in wanted} if wanted else found


def assert_expert_load(
    report: HealthReport,
    max_over_mean: float = 2.0,
    *,
    dead_max: int = 0,
    routers: Iterable[str] | None = None,
    from_step: int = 0,
) -> None:
    """On every step from ``from_step``, each (selected) router's busiest expert gets
    at most ``max_over_mean`` times the mean load, and at most ``dead_max`` experts
    get no token."""
    bad = [
        problem
        for name, loads in expert_loads(report, routers).items()
        if (problem := _load_problem(name, loads, max_over_mean, dead_max, from_step))
    ]
    if bad:
        raise AssertionError("expert load out of range:\n" + "\n".join(bad))


def _load_problem(
    name: str, loads: Loads, max_over_mean: float, dead_max: int, from_step: int
) -> str | None:
    """The first step of one router out of range, in words."""
    for step in range(from_step, len(loads[0])):
        values = [row[step] for row in loads]
        if any(c is None for c in values) or not sum(c or 0.0 for c in values):
            continue
        counts = [c or 0.0 for c in values]
        mean = sum(counts) / len(counts)
        busiest = max(range(len(counts)), key=lambda e: counts[e])
        empty = [e for e, c in enumerate(counts) if c == 0]
        if counts[busiest] > max_over_mean * mean:
            return (
                f"`{name}` step {step}: expert {busiest} gets "
                f"{counts[busiest] / mean:.3g}x the mean load, expected <= "
                f"{max_over_mean:g}x"
            )
        if len(empty) > dead_max:
            return (
                f"`{name}` step {step}: expert(s) {empty} got no token, expected at "
                f"most {dead_max}"
            )
    return None


def assert_router(
    report: HealthReport,
    *,
    min_entropy: float = 0.0,
    max_entropy: float = 1.0,
    routers: Iterable[str] | None = None,
    from_step: int = 0,
) -> None:
    """Router entropy (mean over tokens of the softmax over experts, divided by
    log(experts): 1 uniform, 0 one-hot) within ``[min_entropy, max_entropy]`` on
    every measured step from ``from_step``."""
    if min_entropy > max_entropy:
        raise ValueError(f"min_entropy ({min_entropy}) exceeds max ({max_entropy})")
    bad = []
    for name in expert_loads(report, routers):
        entropy = report.layers[name].series.get(Q.ROUTER_ENTROPY, [])
        for step, value in enumerate(entropy):
            if step >= from_step and value is not None:
                if not min_entropy <= value <= max_entropy:
                    bad.append(
                        f"`{name}` step {step}: router entropy {value:.3g}, expected "
                        f"in [{min_entropy:g}, {max_entropy:g}]"
                    )
                    break
    if bad:
        raise AssertionError("router entropy out of range:\n" + "\n".join(bad))
