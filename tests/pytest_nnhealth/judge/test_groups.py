"""Grouping repeated findings for the text renderers (no torch)."""

from __future__ import annotations

from pytest_nnhealth.judge.groups import group_repeats
from pytest_nnhealth.judge.records import HealthFinding


def _finding(check: str, module: str, cause: str | None = None) -> HealthFinding:
    return HealthFinding(
        check, module, 1.0, "< 0.5", 0, f"{check} in `{module}`", "h",
        consequence_of=cause,
    )  # fmt: skip


def test_repeats_of_one_cause_form_one_group_at_the_first_position():
    dead = [_finding("dead_units", f"relu{i}") for i in range(5)]
    root = _finding("exploding_activations", "lin0")
    nan = _finding("nonfinite", "head", cause="exploding_activations in `lin0`")
    groups = group_repeats([root, dead[0], nan, *dead[1:]])
    assert [(g.first.module, g.count) for g in groups] == [
        ("lin0", 1),
        ("relu0", 5),
        ("head", 1),
    ]
    assert groups[1].title() == (
        "dead_units in 5 layers, first `relu0`, `relu1`, `relu2` ..."
    )
    assert groups[0].title() == "exploding_activations in `lin0`"


def test_same_symptom_with_different_causes_stays_apart():
    roots = [_finding("dead_units", f"a{i}") for i in range(4)]
    caused = [
        _finding("dead_units", f"b{i}", cause="nonfinite in `x`") for i in range(3)
    ]
    groups = group_repeats([*roots, *caused])
    # Four roots are one group; three consequences are below the minimum.
    assert [(g.first.module, g.count) for g in groups] == [
        ("a0", 4),
        ("b0", 1),
        ("b1", 1),
        ("b2", 1),
    ]
