"""Assertion helpers: failures name the layer, the quantity, the value and the range."""

from __future__ import annotations

import pytest

from pytest_nnhealth.judge.records import HealthFinding, HealthReport, LayerStats
from pytest_nnhealth.reporting.assertions import (
    assert_activation_std,
    assert_attention_entropy,
    assert_grad_norm,
    assert_grad_ratio,
    assert_healthy,
    assert_logit_drift,
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


def _high(name: str, step: int = 0) -> HealthFinding:
    message = (
        f"update_ratio_high in `{name}` (LayerScale): 12.0 at step {step}, "
        "healthy < 0.50; lr too high for this layer; lower lr"
    )
    return HealthFinding(
        "update_ratio_high", name, 12.0, "< 0.50", step, message, "lower lr"
    )


def test_failure_text_groups_a_symptom_repeated_over_many_layers():
    """A ConvNeXt with layer scale 1.0 and a huge lr: one cause on 70 parameters is
    one entry naming the first layers and the count; the JSON keeps all 70."""
    names = [f"stages.{i // 10}.blocks.{i % 10}.gamma" for i in range(70)]
    nan = HealthFinding(
        "nonfinite", "head", None, "finite", 3, "nonfinite in `head`", "h",
        consequence_of="update_ratio_high in `stages.0.blocks.0.gamma`",
    )  # fmt: skip
    report = report_with([_high(n) for n in names] + [nan])
    with pytest.raises(AssertionError) as failure:
        assert_healthy(report)
    text = str(failure.value)
    assert text.splitlines()[0] == "Net: 71 unhealthy finding(s) in 2 steps"
    entries = [line for line in text.splitlines() if line.startswith("- ")]
    assert entries == [
        "- update_ratio_high in 70 layers, first `stages.0.blocks.0.gamma`, "
        "`stages.0.blocks.1.gamma`, `stages.0.blocks.2.gamma` ...; the first: "
        + _high(names[0]).message,
        "- nonfinite in `head` (consequence of update_ratio_high in "
        "`stages.0.blocks.0.gamma`)",
    ]
    rows = text.split("\n\n")[0].splitlines()[3:]
    assert rows[0].split() == [
        "update_ratio_high", "stages.0.blocks.0.gamma", "+69", "more", "12", "<",
        "0.50", "0",
    ]  # fmt: skip
    assert len(rows) == 2
    assert len(HealthReport.from_json(report.to_json()).findings) == 71


def test_a_few_repeats_stay_one_line_each():
    report = report_with([_high(f"blocks.{i}.gamma") for i in range(3)])
    with pytest.raises(AssertionError) as failure:
        assert_healthy(report)
    entries = [s for s in str(failure.value).splitlines() if s.startswith("- ")]
    assert entries == [f"- {_high(f'blocks.{i}.gamma').message}" for i in range(3)]


def attention_report() -> HealthReport:
    series = {
        "attn_entropy": [0.9, None, 0.05],
        "attn_entropy_h0": [0.9, None, 0.95],
        "attn_entropy_h1": [0.92, None, 0.05],
        "attn_logit_max": [1.0, None, 40.0],
        "attn_logit_max_h0": [1.0, None, 2.0],
        "attn_logit_max_h1": [0.5, None, 40.0],
    }
    output = {"logit_mean": [0.1, -3.0, -9.0], "logit_lse": [2.3, 5.0, 12.0]}
    layers = {
        "blocks.0.attn": LayerStats("blocks.0.attn", "SelfAttention", series),
        "": LayerStats("", "TinyLM", output),
    }
    return HealthReport("TinyLM", [], layers, [1.0, 0.9, 0.8], steps=3)


def test_attention_entropy_names_the_head_and_step():
    report = attention_report()
    report.assert_attention_entropy(0.01)
    with pytest.raises(AssertionError) as caught:
        report.assert_attention_entropy(0.25)
    assert str(caught.value) == (
        "1 head(s) out of range:\n`blocks.0.attn` head 1: attn_entropy = 0.05 at "
        "step 2, expected >= 0.25"
    )
    with pytest.raises(AssertionError, match=r"module\(s\) \['blocks.1.attn'\]"):
        report.assert_attention_entropy(0.01, modules=["blocks.1.attn"])


def test_attention_logits_bound():
    report = attention_report()
    report.assert_attention_logits(50.0)
    with pytest.raises(AssertionError, match="head 1: attn_logit_max = 40 at step 2"):
        report.assert_attention_logits(20.0, modules=["blocks.0.attn"])


def test_attention_helpers_say_when_no_attention_was_measured():
    with pytest.raises(AssertionError, match="no attention measured in Net"):
        assert_attention_entropy(report_with(), 0.1)


def test_logit_drift_shift_and_log_z():
    report = attention_report()
    report.assert_logit_drift(10.0)
    with pytest.raises(AssertionError) as caught:
        report.assert_logit_drift(5.0)
    assert str(caught.value) == (
        "mean output logit drifted -9.1 nats from step 0 at step 2, expected within 5"
    )
    with pytest.raises(AssertionError, match="log Z of the output = 12 at step 2"):
        assert_logit_drift(report, 10.0, max_log_z=8.0)
    with pytest.raises(AssertionError, match="no output logits measured for Net"):
        assert_logit_drift(report_with(), 1.0)
