"""Baselines: per-layer profiles saved, compared, and a drift fails the test."""

from __future__ import annotations

import json

import pytest
from nnhealth_plugin_helpers import make_project
from nnhealth_sample_records import healthy_report, model_run

from pytest_nnhealth.plugin import baseline


def test_profile_is_the_median_of_finite_values_per_layer_and_quantity():
    report = healthy_report()
    report.layers["fc1"].series["act_std"] = [1.0, None, 3.0, float("nan"), 2.0, 100.0]
    profile = baseline.profile(report)
    assert profile["fc1"]["act_std"] == 2.5
    assert profile["fc1"]["update_ratio"] == pytest.approx(1e-2)
    assert sorted(profile) == ["act", "fc1", "fc2"]


def test_compare_flags_moves_beyond_the_factor_either_way():
    old = {"fc1": {"act_std": 1.0, "grad_norm": 0.1}, "fc2": {"act_std": 2.0}}
    new = {"fc1": {"act_std": 2.5, "grad_norm": 0.03}, "fc2": {"act_std": 3.0}}
    drifts = baseline.compare(old, new, factor=2.0)
    assert [(d.layer, d.quantity, d.factor) for d in drifts] == [
        ("fc1", "grad_norm", pytest.approx(10 / 3)),
        ("fc1", "act_std", pytest.approx(2.5)),
    ]
    assert baseline.compare(old, new, factor=4.0) == []


def test_compare_ignores_tiny_values_and_missing_layers():
    old = {"a": {"dead_fraction": 0.0, "act_std": 1.0}, "b": {"act_std": 1e-9}}
    new = {"a": {"dead_fraction": 0.03, "act_std": 1.0}, "b": {"act_std": 1e-7}}
    # 0 -> 0.03 dead is below the fraction floor; 1e-9 -> 1e-7 is far below 1/1000
    # of the typical act_std; a layer only in one profile is not compared.
    new["c"] = {"act_std": 50.0}
    assert baseline.compare(old, new, factor=2.0) == []
    new["a"]["dead_fraction"] = 0.5
    assert [d.quantity for d in baseline.compare(old, new, factor=2.0)] == [
        "dead_fraction"
    ]


def test_save_merges_with_existing_entries(tmp_path):
    path = tmp_path / "base.json"
    baseline.save(path, [model_run(healthy_report("A"), "t.py::a")])
    baseline.save(path, [model_run(healthy_report("B"), "t.py::b")])
    assert sorted(baseline.load(path)) == ["t.py::a::A", "t.py::b::B"]
    assert json.loads(path.read_text())["format"] == 1


def test_load_rejects_other_files(tmp_path):
    (tmp_path / "x.json").write_text("[1, 2]")
    with pytest.raises(baseline.BaselineError, match="is not an nnhealth baseline"):
        baseline.load(tmp_path / "x.json")
    with pytest.raises(baseline.BaselineError, match="does not exist"):
        baseline.load(tmp_path / "missing.json")


TESTS = """
import os
import torch
from tiny_models import make_tiny

def test_tiny(nnhealth):
    model, batch, loss_fn = make_tiny()
    scale = float(os.environ.get("TINY_SCALE", "1"))
    with torch.no_grad():
        model.fc1.weight.mul_(scale)
    nnhealth(model, batch, loss_fn=loss_fn)
"""


def test_save_then_compare_through_the_plugin(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    make_project(pytester, table='models = ["tiny_models:make_tiny"]')
    pytester.makepyfile(test_health=TESTS)
    result = pytester.runpytest("--nnhealth", "--nnhealth-save-baseline=base/nn.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["nnhealth: saved the baseline of 2 models to base/nn.json"]
    )
    saved = baseline.load(pytester.path / "base/nn.json")
    assert sorted(saved) == [
        "pyproject.toml::tiny_models:make_tiny",
        "test_health.py::test_tiny::TinyNet",
    ]
    tiny = saved["test_health.py::test_tiny::TinyNet"]
    assert set(tiny) == {"fc1", "act", "fc2", ""}  # "": the output logits
    assert set(tiny[""]) == {"logit_max", "logit_lse"}

    pytester.runpytest(
        "--nnhealth", "--nnhealth-baseline=base/nn.json"
    ).assert_outcomes(passed=2)
    monkeypatch.setenv("TINY_SCALE", "30")
    result = pytester.runpytest("--nnhealth", "--nnhealth-baseline=base/nn.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "TinyNet: training dynamics moved by more than x2 from the baseline "
            "base/nn.json:",
            "  act_std of fc1: * in the baseline, * now (x*)",
            "*(rewrite the baseline with --nnhealth-save-baseline if this is intended)",
            "TinyNet  *DRIFTED  *test_tiny  *baseline: *",
        ]
    )
    # A wide enough factor accepts the same run.
    result = pytester.runpytest(
        "--nnhealth",
        "--nnhealth-baseline=base/nn.json",
        "--nnhealth-baseline-factor=1e6",
    )
    result.assert_outcomes(passed=2)


def test_missing_baseline_file_is_a_usage_error(pytester: pytest.Pytester):
    result = pytester.runpytest("--nnhealth-baseline=nope.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: nnhealth: baseline file nope.json does not exist"]
    )
