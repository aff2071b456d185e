"""Assertion helpers: failures name the layer, the quantity, the value and the range."""

from __future__ import annotations

import pytest

from pytest_nnhealth.judge.records import HealthFinding, HealthReport, LayerStats
from pytest_nnhealth.reporting.assertions import (
    assert_activation_std,
    assert_grad_norm,
    assert_grad_ratio,
    assert_healthy,
    assert_update_ratio,
    render_table,
)


def report_with(findings=(), layers=None) -> HealthReport:
    layers = layers or {
        "0": LayerStats(
            "0",
            "Linear",
            {
                "act_std": [1.0, 0.9],
                "grad_norm": [1e-6, 2e-6],
                "update_ratio": [None, 0.01],
            },
        ),
        "1": LayerStats("1", "ReLU", {"act_std": [0.5, 1e-5]}),
        "2": LayerStats(
            "2",
            "Linear",
            {
                "act_std": [0.3, 0.3],
                "grad_norm": [0.5, 0.4],
                "update_ratio": [0.02, 0.9],
            },
        ),
    }
    return HealthReport("Net", list(findings), layers, [1.0, 0.9], steps=2)


DEAD = HealthFinding(
    "dead_units",
    "net.4",
    0.81,
    "< 0.40",
    1,
    "dead_units in `net.4` (ReLU): 0.81 of units dead from step 1, healthy < 0.40; "
    "learning rate too high or negative bias init; lower lr",
    "learning rate too high or negative bias init; lower lr",
)


def test_render_table_fixed_width():
    graph = HealthFinding(
        "nnlint:NNL101",
        "/a/very/long/path/to/models/model.py:12",
        None,
        "",
        None,
        "m",
        "h",
        "warning",
    )
    table = render_table([DEAD, graph], width=60)
    assert table.splitlines() == [
        "check          module                   value  healthy  step",
        "-------------  -----------------------  -----  -------  ----",
        "dead_units     net.4                    0.81   < 0.40   1",
        "nnlint:NNL101  ...o/models/model.py:12  -      -        -",
    ]


def test_assert_healthy_passes_and_fails_with_table():
    assert_healthy(report_with())
    warning = HealthFinding(
        "nnlint:NNL102", "m.py:1", None, "", None, "m", "h", "warning"
    )
    assert_healthy(report_with([warning]))  # warnings do not fail
    with pytest.raises(AssertionError) as info:
        assert_healthy(report_with([DEAD, warning]))
    text = str(info.value)
    assert text.startswith("Net: 1 unhealthy finding(s) in 2 steps\ncheck")
    assert "\ndead_units  net.4         0.81   < 0.40   1\n" in text
    assert "- dead_units in `net.4` (ReLU): 0.81 of units dead from step 1" in text
    assert "NNL102" not in text


def test_report_method_delegates():
    with pytest.raises(AssertionError, match="dead_units"):
        report_with([DEAD]).assert_healthy()


def test_activation_std_names_layer_value_and_range():
    assert_activation_std(report_with(), 0.2, 2.0, modules=["0", "2"])
    with pytest.raises(AssertionError) as info:
        report_with().assert_activation_std(1e-3, 2.0)
    assert str(info.value) == (
        "1 module(s) out of range:\n"
        "`1` (ReLU): act_std = 1e-05 at step 1, expected in [0.001, 2]"
    )


def test_grad_norm_and_update_ratio():
    with pytest.raises(
        AssertionError, match=r"`0` \(Linear\): grad_norm = 1e-06 at step 0"
    ):
        assert_grad_norm(report_with(), 1e-4, 10)
    assert_grad_norm(report_with(), 1e-4, 10, modules=["2"])
    with pytest.raises(
        AssertionError, match=r"`2` \(Linear\): update_ratio = 0.9 at step 1"
    ):
        assert_update_ratio(report_with(), 1e-4, 0.5)
    with pytest.raises(
        AssertionError, match=r"no measurements for module\(s\) \['9'\]"
    ):
        assert_update_ratio(report_with(), 0, 1, modules=["9"])
    with pytest.raises(ValueError, match="must not exceed"):
        assert_update_ratio(report_with(), 1, 0)


def test_grad_ratio_first_over_last():
    assert_grad_ratio(report_with(), 1e-6, 1.0)
    with pytest.raises(AssertionError) as info:
        report_with().assert_grad_ratio(1e-3, 1e3)
    assert str(info.value) == (
        "gradient ratio `0` / `2` = 2e-06 at step 0, expected in [0.001, 1000]"
    )
