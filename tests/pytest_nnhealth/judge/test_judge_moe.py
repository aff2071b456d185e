"""MoE routing as the judge and the reports see it: typed router records and series
built by hand, no torch (the probe's side is in tests/pytest_nnhealth/test_routing.py).
"""

from __future__ import annotations

import math

import pytest

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.judge.measured import RouterInfo
from pytest_nnhealth.judge.moe import (
    judge_routing,
    load_statistics,
    top_share,
    unrouted_after_cause,
)
from pytest_nnhealth.judge.records import (
    HealthFinding,
    HealthReport,
    LayerStats,
    RunResult,
)
from pytest_nnhealth.judge.thresholds import Thresholds
from pytest_nnhealth.reporting.expert_load import expert_load_rows


def test_load_statistics() -> None:
    stats = load_statistics([6.0, 2.0, 0.0, 0.0])
    assert stats[Q.EXPERT_LOAD_MAX_OVER_MEAN] == 3.0
    assert stats[Q.DEAD_EXPERTS] == 2.0
    assert stats[Q.EXPERT_LOAD_CV] == pytest.approx(math.sqrt(6.0) / 2.0)
    assert load_statistics([0.0, 0.0])[Q.EXPERT_LOAD_MAX_OVER_MEAN] is None
    assert load_statistics([6.0, 2.0, 0.0, 0.0], top_k=2)[Q.ROUTER_TOP_SHARE] == 1.0
    assert load_statistics([3.0, 1.0, 0.0, 0.0])[Q.ROUTER_TOP_SHARE] == 0.75
    assert all(Q.is_declared_series(key) for key in stats)


def routed(loads: list[list[float]], top_k: int = 2, **series: list) -> RunResult:
    steps = len(loads)
    rows: dict[str, list] = {
        Q.expert_key(Q.EXPERT_TOKENS, e): [float(step[e]) for step in loads]
        for e in range(len(loads[0]))
    }
    for step_loads in loads:
        for key, value in load_statistics(step_loads, top_k).items():
            rows.setdefault(key, []).append(value)
    rows.update(series)
    router = RouterInfo("moe.gate", len(loads[0]), top_k, False, "moe.experts")
    layer = LayerStats("moe.gate", "Linear", rows)
    return RunResult(
        {"moe.gate": layer}, [1.0] * steps, (1.0, 0.5), ["moe.gate"], ["moe.gate"],
        ["moe.gate"], routers=[router],
    )  # fmt: skip


def test_collapse_is_reported_once_with_its_experts() -> None:
    loads = [[16.0] * 8] * 2 + [[0, 0, 60, 0, 0, 64, 4, 0]] * 3
    [found] = judge_routing(routed(loads), Thresholds())
    assert (found.check, found.module, found.step) == ("router_collapse", "moe.gate", 2)
    assert found.value == pytest.approx(124 / 128)
    assert "expert(s) 2, 5 of 8" in found.message
    assert top_share([[1.0, 2.0], [1.0, 0.0], [2.0, 0.0]], 1) == [0.5, 1.0]


def test_dead_expert_names_the_expert() -> None:
    loads = [[20, 20, 20, 0, 20, 20, 20, 20]] * 4
    [found] = judge_routing(routed(loads), Thresholds())
    assert (found.check, found.value, found.step) == ("dead_experts", 1.0, 0)
    assert "(expert(s) 3)" in found.message


def test_imbalance_with_a_rising_bias_blames_the_sign() -> None:
    loads = [[50, 10, 10, 10, 10, 10, 10, 10]] * 4
    bias = {Q.expert_key(Q.EXPERT_BIAS, 0): [0.0, 0.02, 0.04, 0.06]}
    [found] = judge_routing(routed(loads, **bias), Thresholds())
    assert found.check == "expert_load_imbalance"
    assert found.value == pytest.approx(50 / 15)
    assert (
        "expert 0's balancing bias rose by 0.06 while overloaded: the bias update "
        "has the wrong sign" in found.message
    )
    assert "expert 0 gets 3.33x" in found.message


def test_too_few_tokens_per_expert_is_not_judged() -> None:
    loads = [[6, 0, 0, 0, 2, 0, 0, 0]] * 4  # 1 expected token per expert: chance
    assert judge_routing(routed(loads), Thresholds()) == []


def routed_report(loads: list[list[float]], entropy: list[float]) -> HealthReport:
    result = routed(loads, router_entropy=entropy)
    return HealthReport(
        "M", layers=result.layers, steps=len(loads), routers=result.routers
    )


def test_assert_expert_load_names_router_expert_and_step() -> None:
    report = routed_report([[10, 10, 10, 10], [25, 5, 5, 5]], [0.9, 0.8])
    report.assert_expert_load(max_over_mean=2.6)
    with pytest.raises(AssertionError, match=r"`moe.gate` step 1: expert 0 gets 2.5x"):
        report.assert_expert_load(max_over_mean=2.0)
    dead = routed_report([[20, 20, 0, 0]], [0.5])
    with pytest.raises(AssertionError, match=r"expert\(s\) \[2, 3\] got no token"):
        dead.assert_expert_load(max_over_mean=3.0)
    dead.assert_expert_load(max_over_mean=3.0, dead_max=2)
    with pytest.raises(AssertionError, match="located routers: none"):
        HealthReport("M").assert_expert_load()


def test_assert_router_checks_entropy_range() -> None:
    report = routed_report([[10, 10, 10, 10]] * 3, [0.9, 0.5, 0.1])
    report.assert_router(min_entropy=0.05)
    with pytest.raises(AssertionError, match=r"step 2: router entropy 0.1, expected"):
        report.assert_router(min_entropy=0.2)
    report.assert_router(min_entropy=0.2, from_step=3)


def test_unrouted_experts_gradient_findings_follow_their_router() -> None:
    def item(check: str, module: str, step: int) -> HealthFinding:
        return HealthFinding(check, module, 1.0, "", step, check, "")

    loads = [[20, 20, 20, 0, 20, 20, 20, 20]] * 4
    findings = [
        item("params_without_grad", "moe.experts.3.up", 0),
        item("params_without_grad", "head", 0),  # not an expert: independent
        item("dead_experts", "moe.gate", 2),
    ]
    out = unrouted_after_cause(findings, routed(loads))
    assert [(f.module, f.consequence_of) for f in out] == [
        ("head", None),
        ("moe.gate", None),
        ("moe.experts.3.up", "dead_experts in `moe.gate`"),
    ]


def test_expert_load_rows_are_shares_per_router_and_expert() -> None:
    report = routed_report([[30, 10, 0, 0], [10, 10, 10, 10]], [0.9, 0.8])
    labels, steps, values = expert_load_rows(report)
    assert labels == [f"moe.gate / expert {e}" for e in range(4)]
    assert steps == [0, 1]
    assert values == [[0.75, 0.25], [0.25, 0.25], [0.0, 0.25], [0.0, 0.25]]
    assert expert_load_rows(HealthReport("M")) == ([], [], [])
    # The typed record says which routers were read, not a scan of series names.
    unnamed = HealthReport("M", layers=report.layers, steps=2)
    assert expert_load_rows(unnamed) == ([], [], [])
    again = HealthReport.from_json(report.to_json())
    assert expert_load_rows(again) == (labels, steps, values)
