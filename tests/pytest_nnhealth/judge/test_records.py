"""Records: JSON round trip, healthy flag, symptom vocabulary, histogram steps."""

from __future__ import annotations

import json

import pytest

from pytest_nnhealth.judge.measured import RouterInfo, UpdateMemory
from pytest_nnhealth.judge.records import (
    SYMPTOMS,
    HealthFinding,
    HealthReport,
    Histogram,
    LayerStats,
    is_known_symptom,
)


def sample() -> HealthReport:
    layer = LayerStats(
        "net.0",
        "Linear",
        {"act_std": [1.0, None, float("nan")], "rank": [3.5, None, 2.0]},
        {"act_hist": Histogram([-8.0, -4.0, 0.0], [[1.0, 2.0], [0.0, 3.0]], [0, 2])},
    )
    findings = [
        HealthFinding("dead_units", "net.1", 0.8, "< 0.40", 1, "msg", "hint"),
        HealthFinding("nnlint:NNL101", "m.py:3", None, "", None, "m", "h", "warning"),
    ]
    return HealthReport("Net", findings, {"net.0": layer}, [1.0, 0.5], 3, [0], {}, {})


def test_json_round_trip_keeps_everything():
    report = sample()
    again = HealthReport.from_json(report.to_json())
    assert again.findings == report.findings
    assert again.layers["net.0"].histograms["act_hist"].steps == [0, 2]
    assert again.layers["net.0"].series["rank"] == [3.5, None, 2.0]
    data = json.loads(report.to_json())
    assert data["healthy"] is False
    assert data["layers"]["net.0"]["histograms"]["act_hist"]["counts"] == [
        [1.0, 2.0],
        [0.0, 3.0],
    ]


def test_routers_are_typed_and_keep_their_json_place():
    router = RouterInfo("moe.gate", 8, 2, True, "moe.experts")
    report = HealthReport("Net", routers=[router])
    data = json.loads(report.to_json())
    # The JSON schema is the one of the untyped days: meta.routers, name -> record.
    assert data["meta"]["routers"] == {
        "moe.gate": {
            "experts": 8,
            "top_k": 2,
            "bias_balanced": True,
            "experts_module": "moe.experts",
        }
    }
    assert "routers" not in data
    assert HealthReport.from_json(report.to_json()).routers == [router]
    assert HealthReport.from_json(sample().to_json()).routers == []


def test_update_memory_record_keeps_the_documented_keys():
    memory = UpdateMemory(4096, 3, 1, 4096, 70000)
    assert memory.to_dict() == {
        "extra_bytes": 4096,
        "tensors": 3,
        "sampled_tensors": 1,
        "sample": 4096,
        "parameter_bytes": 70000,
    }


def test_histogram_without_steps_still_loads():
    layer = LayerStats.from_dict(
        {
            "name": "a",
            "type": "ReLU",
            "histograms": {"h": {"edges": [0, 1], "counts": []}},
        }
    )
    assert layer.histograms["h"].steps == []


def test_healthy_ignores_warnings():
    report = sample()
    report.findings = [f for f in report.findings if f.severity == "warning"]
    assert report.healthy


def test_vocabulary_is_fixed():
    assert "dead_units" in SYMPTOMS
    assert is_known_symptom("nnlint:NNL999")
    with pytest.raises(ValueError, match="unknown symptom 'dead'"):
        HealthFinding("dead", "x", 1.0, "", 0, "m", "h")


def test_judge_only_emits_known_symptoms():
    from pytest_nnhealth.judge.hints import HINTS
    from pytest_nnhealth.judge.quantities import CORE_SYMPTOMS

    # Every implemented symptom has its sentences; none outside the vocabulary.
    assert set(CORE_SYMPTOMS) <= set(HINTS) <= set(SYMPTOMS)
