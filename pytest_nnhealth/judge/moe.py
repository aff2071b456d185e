"""Mixture-of-experts routing judged from the routing probe's series
(docs/health/moe.md). All three are state symptoms: out of range on each of the last
``window`` steps, reported from where that final run began.

* ``router_collapse``: the ``top_k`` busiest experts take more than
  ``router_top_share_max`` of all choices (every token goes to the same experts);
  its dead experts and imbalance are consequences and are not reported again;
* ``dead_experts``: more than ``dead_experts_max`` experts receive no token;
* ``expert_load_imbalance``: the busiest expert gets more than
  ``expert_load_max_over_mean`` times the mean load.

Routers whose experts expect fewer than ``MIN_TOKENS_PER_EXPERT`` choices per step
are not judged: with a handful of tokens an empty or doubled expert is chance.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.judge.base import Values, finding, fmt, trailing_run
from pytest_nnhealth.judge.measured import RouterInfo
from pytest_nnhealth.judge.records import HealthFinding, RunResult
from pytest_nnhealth.judge.thresholds import Thresholds

# A balanced router gives each expert Binomial(choices, 1/experts) tokens; at a mean of
# 8 an expert is empty by chance with probability e^-8 ~ 3e-4 per step, and the
# busiest of 8 experts sits near 1.7x the mean, below the 2.0 limit.
MIN_TOKENS_PER_EXPERT = 8.0


def judge_routing(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    out: list[HealthFinding] = []
    for router in result.routers:
        name = router.name
        stats = result.layers.get(name)
        if stats is None:
            continue
        loads = _loads(stats.series, router.experts)
        if not loads or _mean_tokens(loads) < MIN_TOKENS_PER_EXPERT:
            continue
        found = _collapse(router, stats.series, loads, limits)
        if found is None:
            found = [
                *_dead(name, stats.series, loads, limits),
                *_imbalance(name, stats.series, loads, limits),
            ]
        out.extend(found)
    return out


def load_statistics(counts: Sequence[float], top_k: int = 1) -> dict[str, float | None]:
    """One step's per-router series from its tokens per expert: max/mean,
    coefficient of variation, zero-token experts and the share of all choices taken
    by the ``top_k`` busiest experts (the routing probe writes these; plain
    arithmetic, so it lives on the torch-free side)."""
    total = sum(counts)
    if total <= 0:
        return {Q.EXPERT_LOAD_MAX_OVER_MEAN: None, Q.EXPERT_LOAD_CV: None}
    mean = total / len(counts)
    spread = math.sqrt(sum((c - mean) ** 2 for c in counts) / len(counts))
    return {
        Q.EXPERT_LOAD_MAX_OVER_MEAN: max(counts) / mean,
        Q.EXPERT_LOAD_CV: spread / mean,
        Q.DEAD_EXPERTS: float(sum(1 for c in counts if c == 0)),
        Q.ROUTER_TOP_SHARE: sum(sorted(counts, reverse=True)[:top_k]) / total,
    }


def _loads(series: dict[str, Values], experts: int) -> list[Values]:
    keys = [Q.expert_key(Q.EXPERT_TOKENS, e) for e in range(experts)]
    return [series[key] for key in keys] if all(k in series for k in keys) else []


def _mean_tokens(loads: list[Values]) -> float:
    totals = [sum(v or 0.0 for v in step) for step in zip(*loads, strict=True)]
    measured = [t for t in totals if t > 0]
    return sum(measured) / len(measured) / len(loads) if measured else 0.0


def _at(loads: list[Values], step: int) -> list[float]:
    return [row[step] or 0.0 for row in loads]


def top_share(loads: list[Values], k: int) -> Values:
    out: Values = []
    for step in range(len(loads[0])):
        counts = sorted(_at(loads, step), reverse=True)
        total = sum(counts)
        out.append(sum(counts[:k]) / total if total > 0 else None)
    return out


def _collapse(
    router: RouterInfo,
    series: dict[str, Values],
    loads: list[Values],
    limits: Thresholds,
) -> list[HealthFinding] | None:
    name, k = router.name, router.top_k
    cap = limits.router_top_share_max
    share = series.get(Q.ROUTER_TOP_SHARE) or top_share(loads, k)
    hit = trailing_run(share, lambda v: v > cap, limits.window)
    if hit is None:
        return None
    last = _at(loads, len(loads[0]) - 1)
    busiest = sorted(range(len(last)), key=lambda e: -last[e])[:k]
    entropy = [v for v in series.get(Q.ROUTER_ENTROPY, []) if v is not None]
    detail = (
        f"{fmt(hit[1])} of all choices go to expert(s) "
        f"{', '.join(map(str, sorted(busiest)))} of {len(loads)}"
        + (f", router entropy {fmt(entropy[-1])}" if entropy else "")
        + _bias_note(series, busiest[0])
    )
    limit = f"top-{k} share < {cap:.2f}"
    return [finding("router_collapse", name, "", hit[1], limit, hit[0], detail)]


def _dead(
    name: str, series: dict[str, Values], loads: list[Values], limits: Thresholds
) -> list[HealthFinding]:
    count = series.get(Q.DEAD_EXPERTS, [])
    allowed = limits.dead_experts_max
    hit = trailing_run(count, lambda v: v > allowed, limits.window)
    if hit is None:
        return []
    tail = range(max(0, len(loads[0]) - limits.window), len(loads[0]))
    empty = [e for e, row in enumerate(loads) if all(not row[s] for s in tail)]
    if len(empty) <= allowed:
        return []  # different experts empty on different steps: churn, not death
    detail = (
        f"{len(empty)} of {len(loads)} experts received no token "
        f"(expert(s) {', '.join(map(str, empty))})"
        + _bias_note(series, empty[0], busy=False)
    )
    limit = f"<= {allowed} experts without tokens"
    return [finding("dead_experts", name, "", float(len(empty)), limit, hit[0], detail)]


def _imbalance(
    name: str,
    series: dict[str, Values],
    loads: list[Values],
    limits: Thresholds,
) -> list[HealthFinding]:
    cap = limits.expert_load_max_over_mean
    ratio = series.get(Q.EXPERT_LOAD_MAX_OVER_MEAN, [])
    hit = trailing_run(ratio, lambda v: v > cap, limits.window)
    if hit is None:
        return []
    last = _at(loads, len(loads[0]) - 1)
    busiest = max(range(len(last)), key=lambda e: last[e])
    cv = [v for v in series.get(Q.EXPERT_LOAD_CV, []) if v is not None]
    detail = (
        f"expert {busiest} gets {fmt(hit[1])}x the mean load"
        + (f" (coefficient of variation {fmt(cv[-1])})" if cv else "")
        + _bias_note(series, busiest)
    )
    limit = f"max/mean < {cap:g}"
    return [finding("expert_load_imbalance", name, "", hit[1], limit, hit[0], detail)]


def _bias_note(series: dict[str, Values], expert: int, busy: bool = True) -> str:
    """For a bias-balanced router: which way the expert's bias moved. Balancing lowers
    a busy expert's bias and raises an idle one's; the opposite is the wrong sign."""
    bias = series.get(Q.expert_key(Q.EXPERT_BIAS, expert), [])
    values = [v for v in bias if v is not None]
    if len(values) < 2:
        return ""
    drift = values[-1] - values[0]
    state = "overloaded" if busy else "idle"
    if drift == 0:
        return f"; expert {expert}'s balancing bias never moved: is the update run?"
    if (drift > 0) == busy:
        return (
            f"; expert {expert}'s balancing bias {'rose' if busy else 'fell'} by "
            f"{fmt(abs(drift))} while {state}: the bias update has the wrong sign (it "
            "must lower busy experts' bias and raise idle ones')"
        )
    return (
        f"; expert {expert}'s balancing bias moved {fmt(drift)} while {state} "
        "(the right way: update too slow?)"
    )


# What an expert that receives no token shows: no gradient, so no update.
UNROUTED_ECHOES = frozenset(
    {"params_without_grad", "zero_gradients", "update_ratio_low"}
)


def unrouted_after_cause(
    findings: list[HealthFinding], result: RunResult
) -> list[HealthFinding]:
    """Mark the gradient findings of experts inside a router's experts container as
    consequences of that router's ``dead_experts``/``router_collapse`` finding, and
    list them right after it: the wiring is fine, the router sends them nothing."""
    causes = {
        f.module: f for f in findings if f.check in ("dead_experts", "router_collapse")
    }
    containers = {
        router.experts_module: causes[router.name]
        for router in result.routers
        if router.name in causes and router.experts_module
    }
    if not containers:
        return findings
    moved: dict[int, list[HealthFinding]] = {}
    kept: list[HealthFinding] = []
    for item in findings:
        cause = _container_cause(item, containers)
        if cause is None:
            kept.append(item)
            continue
        label = f"{cause.check} in `{cause.module}`"
        moved.setdefault(id(cause), []).append(
            dataclasses.replace(item, consequence_of=label)
        )
    return [out for f in kept for out in (f, *moved.get(id(f), []))]


def _container_cause(
    item: HealthFinding, containers: dict[str, HealthFinding]
) -> HealthFinding | None:
    if item.check not in UNROUTED_ECHOES:
        return None
    for container, cause in containers.items():
        if item.module == container or item.module.startswith(container + "."):
            return cause
    return None
