"""Thresholds: documented defaults, overrides, clear errors for bad keys and types."""

from __future__ import annotations

import dataclasses

import pytest

from pytest_nnhealth.judge.thresholds import Thresholds


def test_defaults_match_the_design_evidence():
    limits = Thresholds()
    assert 0.25 < limits.dead_fraction_max < 0.65  # healthy <= 25%, broken > 65%
    assert limits.update_ratio_max > 4e-2  # healthy nets reach 4e-2
    assert limits.update_ratio_min < 5e-4
    assert limits.window >= 2  # zero-init output layers recover by step 1-3


def test_replace_and_from_mapping():
    limits = Thresholds().replace(dead_fraction_max=0.5, window=2)
    assert (limits.dead_fraction_max, limits.window) == (0.5, 2)
    mapped = Thresholds.from_mapping(
        {"saturation_fraction_max": 0.3, "ignore": ["rank_collapse"]}
    )
    assert mapped.saturation_fraction_max == 0.3
    assert mapped.ignore == ("rank_collapse",)
    assert Thresholds.from_mapping({"ignore": "dead_units, nnlint:NNL101"}).ignore == (
        "dead_units",
        "nnlint:NNL101",
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.window = 4  # type: ignore[misc]


def test_ints_accepted_for_floats_and_stored_as_floats():
    limits = Thresholds(loss_divergence_factor=5)
    assert isinstance(limits.loss_divergence_factor, float)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"dead_fraction": 0.5}, "unknown key 'dead_fraction'"),
        ({"dead_fraction_max": "high"}, "dead_fraction_max must be float, got str"),
        ({"window": 2.5}, "window must be int, got float"),
        ({"window": True}, "window must be int, got bool"),
        ({"window": 0}, "window must be >= 1"),
        ({"ignore": ["dead"]}, "unknown symptom 'dead' in ignore"),
        ({"ignore": 3}, "ignore must be a list of symptom names"),
    ],
)
def test_bad_overrides_name_the_key(overrides, match):
    with pytest.raises(ValueError, match=match):
        Thresholds.from_mapping(overrides)


def test_to_dict_is_json_friendly():
    data = Thresholds(ignore=("saturation",)).to_dict()
    assert data["ignore"] == ["saturation"]
    assert Thresholds.from_mapping(data) == Thresholds(ignore=("saturation",))
