"""The measured margin behind each judged threshold.

For every run, ``run_statistics`` reduces the raw per-layer series of a report to the
one number per threshold that the judge compares (as
``pytest_nnhealth/judge/core.py`` does: "state" quantities on the last ``window``
steps, "event" quantities on the worst step).
``margins`` then puts the worst healthy value next to the best (least extreme) value
among the broken cases that expect the matching symptom: a default is well placed when
it lies between the two.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.zoo_build import ZooCase
from pytest_nnhealth.judge.base import ratios, settled

Values = list[Any]


@dataclass(frozen=True)
class Rule:
    key: str  # Thresholds field
    symptom: str
    upper: bool  # fires when the statistic is above the threshold


RULES = (
    Rule("dead_fraction_max", "dead_units", True),
    Rule("saturation_fraction_max", "saturation", True),
    Rule("depth_ratio_min", "vanishing_activations", False),
    Rule("depth_ratio_max", "exploding_activations", True),
    Rule("grad_ratio_min", "vanishing_gradients", False),
    Rule("grad_ratio_max", "exploding_gradients", True),
    Rule("grad_relative_max", "exploding_gradients", True),
    Rule("update_ratio_max", "update_ratio_high", True),
    Rule("update_ratio_min", "update_ratio_low", False),
    Rule("loss_divergence_factor", "loss_divergence", True),
    Rule("min_loss_drop", "no_learning", False),
    Rule("rank_top_fraction_max", "rank_collapse", True),
    Rule("expert_load_max_over_mean", "expert_load_imbalance", True),
    Rule("dead_experts_max", "dead_experts", True),
    Rule("router_top_share_max", "router_collapse", True),
)


def _measured(values: Values) -> list[float]:
    return [v for v in values if v is not None]


def _tail(values: Values, window: int, reduce: Callable[[list[float]], float]) -> Any:
    measured = _measured(values)
    return reduce(measured[-window:]) if measured else None


def _extreme(items: list[Any], upper: bool) -> float | None:
    present = [v for v in items if v is not None and not math.isnan(v)]
    if not present:
        return None
    return max(present) if upper else min(present)


def _series(layers: dict[str, dict[str, Values]], quantity: str) -> dict[str, Values]:
    return {name: rows[quantity] for name, rows in layers.items() if quantity in rows}


def run_statistics(
    layers: dict[str, dict[str, Values]],
    leaves: list[str],
    owners: list[str],
    losses: list[float],
    window: int,
) -> dict[str, float | None]:
    """One number per threshold key for one run (``None``: not measurable here)."""
    stats: dict[str, float | None] = {}
    for key, quantity in (
        ("dead_fraction_max", "dead_fraction"),
        ("saturation_fraction_max", "saturation_fraction"),
        ("grad_relative_max", "grad_relative"),
    ):
        rows = _series(layers, quantity).values()
        stats[key] = _extreme([_tail(v, window, min) for v in rows], upper=True)
    # The judge's depth ratio uses the std across samples (sampled steps) when the
    # probe records it: a bias-dominated output has a large std but no signal.
    stds = _series(layers, "act_batch_std") or _series(layers, "act_std")
    hidden = [name for name in leaves if name in stds]
    if len(hidden) >= 3:
        depth = ratios(stds[hidden[-2]], stds[hidden[0]])
        stats["depth_ratio_min"] = _tail(depth, window, max)
        stats["depth_ratio_max"] = _tail(depth, window, min)
    norms = _series(layers, "grad_norm")
    owning = [name for name in owners if name in norms]
    if len(owning) >= 2:
        ratio = ratios(norms[owning[0]], norms[owning[-1]])
        stats["grad_ratio_min"] = _tail(ratio, window, max)
        stats["grad_ratio_max"] = _tail(ratio, window, min)
    updates = _series(layers, "update_ratio")
    worst = [_extreme(settled(rows, window), upper=True) for rows in updates.values()]
    stats["update_ratio_max"] = _extreme(worst, upper=True)
    stats["update_ratio_min"] = _extreme(
        [_tail(v, window, max) for v in updates.values()], upper=False
    )
    stats.update(_loss_statistics(losses))
    tops = _series(layers, "top_sv_fraction")
    stats["rank_top_fraction_max"] = _extreme(
        [_tail(tops[n], window, min) for n in leaves[:-1] if n in tops], upper=True
    )
    for key, quantity in (
        ("expert_load_max_over_mean", "expert_load_max_over_mean"),
        ("dead_experts_max", "dead_experts"),
        ("router_top_share_max", "router_top_share"),
    ):  # MoE routers only (docs/health/moe.md): trailing-window minimum, worst router
        rows = _series(layers, quantity).values()
        stats[key] = _extreme([_tail(v, window, min) for v in rows], upper=True)
    return stats


def _loss_statistics(losses: list[float]) -> dict[str, float | None]:
    if not losses or not losses[0] > 0:
        return {"loss_divergence_factor": None, "min_loss_drop": None}
    finite = all(math.isfinite(v) for v in losses)
    growth = max(losses) / losses[0] if finite else math.inf
    # The judge uses the held batch's loss after the last step; the last training loss
    # (before the last update) is the closest value the report keeps.
    drop = (losses[0] - losses[-1]) / abs(losses[0]) if finite else None
    return {"loss_divergence_factor": growth, "min_loss_drop": drop}


@dataclass(frozen=True)
class Margin:
    rule: Rule
    default: float
    healthy_worst: float | None
    healthy_case: str
    broken_best: float | None
    broken_case: str
    via: str = ""  # a sibling rule (same symptom) that fires on these broken runs

    def healthy_ok(self) -> bool | None:
        if self.healthy_worst is None:
            return None
        if self.rule.upper:
            return self.healthy_worst <= self.default
        return self.default <= self.healthy_worst

    def broken_ok(self) -> bool | None:
        if self.broken_best is None:
            return None
        if self.rule.upper:
            return self.default < self.broken_best
        return self.broken_best < self.default

    def separated(self) -> bool | None:
        if self.healthy_ok() is None or self.broken_ok() is None:
            return None
        return bool(self.healthy_ok() and self.broken_ok())

    def cells(self) -> tuple[str, str, str, str, str]:
        verdict = {True: "separates", False: "OVERLAP", None: "one side only"}[
            self.separated()
        ]
        if self.via and self.healthy_ok():
            verdict = f"healthy side only; these broken runs fire via {self.via}"
        healthy = _fmt(self.healthy_worst) + (
            f" ({self.healthy_case})" * bool(self.healthy_case)
        )
        broken = _fmt(self.broken_best) + (
            f" ({self.broken_case})" * bool(self.broken_case)
        )
        arrow = ">" if self.rule.upper else "<"
        name = f"{self.rule.key} ({self.rule.symptom} if {arrow})"
        return (name, _fmt(self.default), healthy, broken, verdict)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isinf(value) or math.isnan(value):
        return str(value)
    return f"{value:.3g}"


def margins(records: list[dict[str, Any]], cases: list[ZooCase]) -> list[Margin]:
    from pytest_nnhealth.judge.thresholds import Thresholds

    defaults = Thresholds()
    by_name = {case.name: case for case in cases}
    out = []
    for rule in RULES:
        healthy: list[tuple[float, str]] = []
        broken: list[tuple[float, str]] = []
        for record in records:
            case = by_name[record["case"]]
            value = record.get("stats", {}).get(rule.key)
            if value is None or math.isnan(value):
                continue
            if case.healthy:
                healthy.append((value, case.name))
            elif rule.symptom in case.expected:
                broken.append((value, case.name))
        # Healthy worst = closest to firing; broken best = furthest from firing.
        h = (max if rule.upper else min)(healthy, default=(None, ""))
        b = (min if rule.upper else max)(broken, default=(None, ""))
        out.append(Margin(rule, getattr(defaults, rule.key), h[0], h[1], b[0], b[1]))
    return [_with_sibling(margin, out) for margin in out]


def _with_sibling(margin: Margin, every: list[Margin]) -> Margin:
    """Two rules can report one symptom (exploding_gradients: first/last gradient ratio
    or per-module relative gradient); a broken run needs only one of them."""
    if margin.broken_ok() is not False:
        return margin
    for other in every:
        if other is not margin and other.rule.symptom == margin.rule.symptom:
            if other.broken_ok():
                return dataclasses.replace(margin, via=other.rule.key)
    return margin
