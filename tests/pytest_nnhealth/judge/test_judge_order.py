"""Root cause first: ordering by position and ``consequence_of`` (no torch needed)."""

from __future__ import annotations

import json

from pytest_nnhealth.judge.order import consequence_note, order_by_cause, position
from pytest_nnhealth.judge.records import HealthFinding, HealthReport
from pytest_nnhealth.reporting.assertions import failure_message

ORDER = ["embed", "layers.0", "layers.1", "layers.2", "layers.3", "head"]


def make(check: str, module: str, step: int | None) -> HealthFinding:
    return HealthFinding(check, module, 1.0, "", step, f"{check} in {module}", "")


def test_position_is_step_then_execution_order_then_backward():
    assert position(make("dead_units", "layers.1", 2), ORDER, 25) == (2, 2)
    # A parameter name sits at its module.
    assert position(make("update_ratio_high", "layers.3.weight", 0), ORDER, 25) == (
        0,
        4,
    )
    # The loss / whole model: after the forward pass of that step.
    assert position(make("loss_divergence", "", 4), ORDER, 25) == (4, 6)
    # Backward NaN: after the forward pass, deepest module first.
    back = position(make("nonfinite", "layers.3", 1), ORDER, 25, backward=True)
    assert back == (1, 6 + 1 + 2)
    # Gradient symptoms sit in the backward pass; wiring holds from step 0;
    # no_learning is judged after the last step.
    assert position(make("zero_gradients", "head", None), ORDER, 25) == (0, 8)
    assert position(make("unregistered_params", "embed", None), ORDER, 25) == (0, 0)
    assert position(make("no_learning", "", None), ORDER, 25) == (25, 0)


def test_growth_then_overflow_then_divergence_chain_to_one_root():
    findings = [
        make("nonfinite", "layers.3", 0),
        make("loss_divergence", "", 0),
        make("dead_units", "layers.2", 1),
        make("exploding_activations", "layers.1", 0),
        make("no_learning", "", None),
    ]
    ordered = order_by_cause(findings, ORDER, 25)
    root = "exploding_activations in `layers.1`"
    assert [(f.check, f.consequence_of) for f in ordered] == [
        ("exploding_activations", None),
        ("nonfinite", root),
        ("loss_divergence", root),
        ("dead_units", root),
        ("no_learning", root),
    ]


def test_independent_problems_stay_independent():
    """Wiring does not cause dead ReLUs, and a dead layer does not cause an
    unregistered parameter: both stay root causes, in position order."""
    findings = [
        make("dead_units", "layers.2", 3),
        make("unregistered_params", "layers.0", None),
    ]
    ordered = order_by_cause(findings, ORDER, 25)
    assert [(f.check, f.consequence_of) for f in ordered] == [
        ("unregistered_params", None),
        ("dead_units", None),
    ]


def test_same_symptom_in_several_layers_is_not_its_own_consequence():
    findings = [make("update_ratio_high", f"layers.{i}", 0) for i in (3, 1, 2)]
    ordered = order_by_cause(findings, ORDER, 25)
    assert [f.module for f in ordered] == ["layers.1", "layers.2", "layers.3"]
    assert all(f.consequence_of is None for f in ordered)


def test_a_zero_gradient_explains_the_zero_gradients_upstream_of_it():
    """Two zeroed projections at the end: nothing reaches the layers before them."""
    findings = [make("zero_gradients", name, None) for name in ORDER[:4]]
    findings.append(make("zero_gradients", "head", None))
    findings.append(make("vanishing_gradients", "embed", 0))
    ordered = order_by_cause(findings, ORDER, 25)
    assert ordered[0].module == "head"
    assert ordered[0].consequence_of is None
    assert {f.consequence_of for f in ordered[1:]} == {"zero_gradients in `head`"}
    assert ordered[-1].check == "vanishing_gradients"


def test_a_later_cause_never_explains_an_earlier_symptom():
    """Saturation at step 5 cannot explain a divergence that began at step 2."""
    findings = [make("saturation", "layers.0", 5), make("loss_divergence", "", 2)]
    ordered = order_by_cause(findings, ORDER, 25)
    assert [(f.check, f.consequence_of) for f in ordered] == [
        ("loss_divergence", None),
        ("saturation", "loss_divergence"),
    ]


def test_consequence_is_shown_in_text_and_json():
    ordered = order_by_cause(
        [make("nonfinite", "layers.3", 0), make("exploding_activations", "embed", 0)],
        ORDER,
        25,
    )
    report = HealthReport("Deep", findings=ordered, steps=25)
    text = failure_message(report)
    assert (
        "- nonfinite in layers.3 (consequence of exploding_activations in `embed`)"
        in (text)
    )
    data = json.loads(report.to_json())
    assert data["findings"][1]["consequence_of"] == "exploding_activations in `embed`"
    assert HealthReport.from_json(report.to_json()).findings == ordered
    assert consequence_note(data["findings"][0]) == ""
