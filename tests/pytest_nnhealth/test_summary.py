"""The health summary table: a pure function of the records, tested at fixed widths."""

from __future__ import annotations

from nnhealth_sample_records import (
    dead_relu_report,
    healthy_report,
    model_run,
    sample_records,
)

from pytest_nnhealth.judge.records import HealthFinding
from pytest_nnhealth.plugin.summary import render_summary, worst_symptoms
from pytest_nnhealth.reporting.runs import Drift, SessionRecords


def test_table_at_width_80_wraps_symptoms_under_their_column():
    pad = " " * 46
    assert render_summary(sample_records(), width=80).splitlines() == [
        "model     verdict    layers  checked in       worst symptoms",
        "SmallNet  healthy         3  test_small       -",
        "DeadNet   UNHEALTHY       4  test_dead        dead_units (act: 0.9, healthy <",
        pad + "0.40); no_learning (model: 0.001,",
        pad + "healthy drop >= 1%)",
        "Broken    ERROR           -  [tool.nnhealth]  error: cannot import "
        "'pkg.models'",
        pad + "for model factory",
        pad + "'pkg.models:make'",
        "3 models checked: 1 healthy, 1 unhealthy, 1 error",
        "nnlint: 2 files linted, 1 with findings (1 finding)",
    ]


def test_no_line_is_wider_than_the_terminal():
    for width in (60, 80, 120):
        text = render_summary(sample_records(), width=width)
        assert max(len(line) for line in text.splitlines()) <= width


def test_long_model_names_are_cut_to_their_column():
    run = model_run(healthy_report("A" * 40), "t.py::test_long")
    first_row = render_summary(SessionRecords(models=[run]), width=100).splitlines()[1]
    assert first_row.startswith("A" * 21 + "...  healthy")


def test_worst_symptoms_put_errors_first_then_the_most_widespread():
    report = dead_relu_report()
    warning = HealthFinding("saturation", "fc1", 0.5, "< 0.40", 2, "m", "h", "warning")
    extra = HealthFinding("dead_units", "fc2", 0.7, "< 0.40", 1, "m", "h")
    report.findings = [warning, *report.findings, extra]
    text = worst_symptoms(model_run(report, "t.py::test"))
    assert text == (
        "dead_units x2 (act: 0.9, healthy < 0.40); "
        "no_learning (model: 0.001, healthy drop >= 1%); "
        "saturation (fc1: 0.5, healthy < 0.40)"
    )


def test_symptom_list_is_capped_with_a_count_of_the_rest():
    report = healthy_report()
    report.findings = [
        HealthFinding(check, "fc1", 1.0, "< 0.5", 0, "m", "h")
        for check in ("nonfinite", "dead_units", "saturation", "rank_collapse")
    ]
    assert worst_symptoms(model_run(report, "t.py::t")).endswith("; +1 more")


def test_drifted_model_names_the_largest_move():
    run = model_run(healthy_report(), "t.py::test_drift")
    run.drift = [
        Drift("fc1", "act_std", 1.0, 4.5, 4.5),
        Drift("fc2", "grad_norm", 1, 3, 3),
    ]
    run.baseline_factor = 2.0
    text = render_summary(SessionRecords(models=[run]), width=100)
    assert "DRIFTED" in text
    assert "baseline: act_std of fc1 x4.5" in text
    assert text.splitlines()[-1] == "1 model checked: 1 drifted"


def test_empty_session_says_so():
    assert render_summary(SessionRecords(), width=80) == "no models were health-checked"


def test_narrow_terminal_puts_symptoms_under_each_row():
    assert render_summary(sample_records(), width=60).splitlines()[:5] == [
        "model     verdict    layers  checked in",
        "SmallNet  healthy         3  test_small",
        "DeadNet   UNHEALTHY       4  test_dead",
        "    dead_units (act: 0.9, healthy < 0.40); no_learning",
        "    (model: 0.001, healthy drop >= 1%)",
    ]


def test_graph_findings_show_the_file_name_only():
    report = healthy_report()
    report.findings = [
        HealthFinding(
            "nnlint:NNL610", "/src/pkg/models/cnn.py:33", None, "", None, "m", "h"
        )
    ]
    assert worst_symptoms(model_run(report, "t.py::t")) == "nnlint:NNL610 (cnn.py:33)"
