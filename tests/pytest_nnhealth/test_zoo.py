"""The calibration zoo as a CI test (seed 0): healthy models raise no error finding;
broken models show their expected symptoms, naming the expected module where the case
gives one. ``bench/calibrate.py`` runs the same cases over more seeds and publishes the
rates in docs/calibration.md."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

# `bench/` is a top-level directory of the repository, not an installed package.
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.calibration_stats import in_module  # noqa: E402
from bench.zoo import CASES  # noqa: E402
from bench.zoo_build import ZooCase  # noqa: E402
from pytest_nnhealth.judge.records import HealthReport  # noqa: E402
from pytest_nnhealth.training.health_check import check  # noqa: E402

# Cases the current implementation misses, with the precise reason (strict: the day one
# starts passing, the marker must go).
KNOWN_MISSES: dict[str, str] = {}


def _params() -> list[Any]:
    params = []
    for case in CASES:
        marks = []
        if case.name in KNOWN_MISSES:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_MISSES[case.name]))
        params.append(pytest.param(case, id=case.name, marks=marks))
    return params


def _run(case: ZooCase) -> HealthReport:
    model, batch, loss_fn, optimizer = case.build(0)
    return check(model, batch, loss_fn=loss_fn, optimizer=optimizer, seed=0)


@pytest.mark.parametrize("case", _params())
def test_zoo_case(case: ZooCase) -> None:
    report = _run(case)
    errors = [f for f in report.findings if f.severity == "error"]
    if case.healthy:
        assert errors == [], f"false alarm on healthy {case.name}: {errors}"
        return
    found = {finding.check for finding in report.findings}
    assert case.expected <= found, (
        f"{case.name}: expected {sorted(case.expected)}, found {sorted(found)}"
    )
    assert not report.healthy, f"{case.name}: findings but no error: {report.findings}"
    if case.expected_module is not None:
        named = [f.module for f in report.findings if f.check in case.expected]
        assert any(in_module(module, case.expected_module) for module in named), (
            f"{case.name}: expected module {case.expected_module!r}, got {named}"
        )


def test_zoo_covers_the_issue() -> None:
    """At least 25 cases, healthy and broken, covering every listed symptom."""
    names = {case.name for case in CASES}
    assert len(CASES) >= 25
    assert len(names) == len(CASES)
    assert sum(case.healthy for case in CASES) >= 10
    expected = set().union(*(case.expected for case in CASES))
    assert {
        "dead_units",
        "saturation",
        "vanishing_activations",
        "exploding_activations",
        "zero_gradients",
        "nonfinite",
        "params_without_grad",
        "unregistered_params",
        "update_ratio_high",
        "update_ratio_low",
        "loss_divergence",
        "attention_entropy_collapse",
        "attention_logit_growth",
        "logit_drift",
        "router_collapse",
        "dead_experts",
    } <= expected
    for case in CASES:
        assert case.healthy == (not case.expected), case.name


def test_zoo_build_is_deterministic_per_seed() -> None:
    for case in CASES[:3]:
        rng = torch.get_rng_state()
        first, second = case.build(1), case.build(1)
        assert torch.equal(torch.get_rng_state(), rng)  # the caller's RNG is untouched
        for a, b in zip(
            first[0].state_dict().values(), second[0].state_dict().values(), strict=True
        ):
            assert torch.equal(a, b)
        assert torch.equal(first[1][0], second[1][0])


def _record(case: str, seed: int, *findings: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "case": case,
        "seed": seed,
        "error": None,
        "seconds": 0.1,
        "passed": not any(severity == "error" for _, _, severity in findings),
        "findings": [
            {"check": check, "module": module, "severity": severity}
            for check, module, severity in findings
        ],
        "stats": {"dead_fraction_max": 0.9 if case == "dead" else 0.1},
    }


def test_summary_rates() -> None:
    """The calibration's arithmetic: false alarms count error findings on healthy
    runs only; detection needs every expected symptom; modules match by prefix."""
    from bench.calibration_stats import summarise

    cases = [
        ZooCase("ok", CASES[0].build, True),
        ZooCase("dead", CASES[0].build, False, frozenset({"dead_units"}), "net.1"),
    ]
    records = [
        _record("ok", 0),
        _record("ok", 1, ("saturation", "net.1", "error")),
        _record("ok", 2, ("rank_collapse", "net.0", "warning")),
        _record("dead", 0, ("dead_units", "net.1", "error")),
        _record("dead", 1, ("dead_units", "net.3", "error")),
        _record("dead", 2, ("no_learning", "", "error")),
    ]
    summary = summarise(records, cases, [0, 1, 2])
    assert (summary.false_alarm_runs, summary.healthy_runs) == (1, 3)
    assert summary.false_alarms == {"saturation": 1}
    assert summary.healthy_warnings == {"rank_collapse": 1}
    assert summary.detection == {"dead_units": (2, 3)}
    assert summary.module_hits == (1, 3)
    margin = next(m for m in summary.margins if m.rule.key == "dead_fraction_max")
    assert (margin.healthy_worst, margin.broken_best) == (0.1, 0.9)
    assert margin.separated() is True
    assert in_module("net.1.weight", "net.1")
    assert not in_module("net.10", "net.1")
