"""Settings layers: parsing, precedence, and errors naming the key and its place."""

from __future__ import annotations

import pytest

from pytest_nnhealth.judge.thresholds import Thresholds
from pytest_nnhealth.plugin.settings import (
    Settings,
    literal,
    parse_assignments,
    parse_layer,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", 3),
        ("0.5", 0.5),
        ("1e-3", 1e-3),
        ("true", True),
        ("No", False),
        ("none", None),
        ("cpu", "cpu"),
        (" cuda:1 ", "cuda:1"),
    ],
)
def test_literal_reads_numbers_and_booleans(text, expected):
    assert literal(text) == expected
    assert type(literal(text)) is type(expected)


def test_layer_splits_check_keywords_plugin_keys_and_thresholds():
    layer = parse_layer(
        {
            "steps": "4",
            "graph": "false",
            "baseline_factor": 3,
            "dead_fraction_max": "0.5",
        },
        "test",
    )
    assert layer.check == {"steps": 4, "graph": False}
    assert layer.plugin == {"baseline_factor": 3.0}
    assert layer.thresholds == {"dead_fraction_max": 0.5}


def test_later_layers_win_key_by_key():
    settings = (
        Settings()
        .merged({"steps": 10, "seed": 1, "dead_fraction_max": 0.3}, "ini")
        .merged({"steps": 5, "update_ratio_max": 0.9}, "cli")
        .merged({"steps": 2}, "marker")
    )
    assert settings.check == {"steps": 2, "seed": 1}
    kwargs = settings.check_kwargs()
    assert kwargs["steps"] == 2
    assert kwargs["thresholds"] == Thresholds(
        dead_fraction_max=0.3, update_ratio_max=0.9
    )


def test_device_auto_means_none_and_seeds_is_a_count():
    layer = parse_layer({"device": "auto", "seeds": "3"}, "test")
    assert layer.check == {"device": None, "seeds": 3}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"steps": "many"},
            "nnhealth: option --x: 'steps' must be a positive integer, got 'many'",
        ),
        ({"steps": 0}, "'steps' must be a positive integer, got 0"),
        ({"steps": 2.5}, "'steps' must be a positive integer, got 2.5"),
        ({"seed": -1}, "'seed' must be a non-negative integer, got -1"),
        ({"graph": "maybe"}, "'graph' must be true or false, got 'maybe'"),
        ({"baseline_factor": 0.5}, "'baseline_factor' must be a number greater than 1"),
        ({"dead_fraction_maxx": 0.5}, "unknown key 'dead_fraction_maxx'"),
        ({"dead_fraction_max": "lots"}, "dead_fraction_max must be float, got str"),
        ({"ignore": ["dead_unit"]}, "unknown symptom 'dead_unit'"),
    ],
)
def test_bad_values_are_usage_errors_naming_key_and_source(values, message):
    with pytest.raises(pytest.UsageError) as raised:
        parse_layer(values, "option --x")
    assert message in str(raised.value)
    assert str(raised.value).startswith("nnhealth: option --x: ")


def test_assignments_need_key_and_value():
    assert parse_assignments(["a=1", " b = x "], "s") == {"a": "1", "b": "x"}
    with pytest.raises(
        pytest.UsageError, match="nnhealth: s: expected KEY=VALUE, got 'a'"
    ):
        parse_assignments(["a"], "s")


def _settings(pytester: pytest.Pytester, *args: str):
    from pytest_nnhealth.plugin.fixtures import session_settings

    return session_settings(pytester.parseconfigure(*args))


def test_precedence_table_then_ini_then_cli(pytester: pytest.Pytester):
    pytester.makepyprojecttoml(
        """
        [tool.pytest.ini_options]
        nnhealth_steps = 7
        nnhealth_thresholds = ["dead_fraction_max=0.6", "window=2"]
        [tool.nnhealth]
        steps = 9
        seed = 4
        graph = false
        [tool.nnhealth.thresholds]
        dead_fraction_max = 0.5
        update_ratio_max = 0.8
        """
    )
    settings = _settings(pytester)
    assert settings.check == {"steps": 7, "seed": 4, "graph": False}
    assert settings.thresholds == {
        "dead_fraction_max": 0.6,
        "update_ratio_max": 0.8,
        "window": 2,
    }
    settings = _settings(
        pytester,
        "--nnhealth-steps=3",
        "--nnhealth-graph",
        "--nnhealth-threshold",
        "window=5",
    )
    assert settings.check == {"steps": 3, "seed": 4, "graph": True}
    assert settings.thresholds["window"] == 5


def test_ini_file_values_are_parsed(pytester: pytest.Pytester):
    pytester.makeini(
        """
        [pytest]
        nnhealth_steps = 4
        nnhealth_graph = no
        nnhealth_device = cpu
        nnhealth_baseline_factor = 1.5
        nnhealth_thresholds =
            dead_fraction_max = 0.7
            ignore = rank_collapse, no_learning
        """
    )
    settings = _settings(pytester)
    assert settings.check == {"steps": 4, "graph": False, "device": "cpu"}
    assert settings.baseline_factor == 1.5
    thresholds = settings.check_kwargs()["thresholds"]
    assert thresholds.dead_fraction_max == 0.7
    assert thresholds.ignore == ("rank_collapse", "no_learning")


def test_native_toml_types_are_accepted(pytester: pytest.Pytester):
    pytester.makefile(
        ".toml",
        pytest="""
        [pytest]
        nnhealth_steps = 6
        nnhealth_graph = false
        nnhealth_baseline_factor = 3
        """,
    )
    settings = _settings(pytester)
    assert settings.check == {"steps": 6, "graph": False}
    assert settings.baseline_factor == 3.0


@pytest.mark.parametrize(
    ("pyproject", "message"),
    [
        (
            "[tool.nnhealth]\nstepz = 3\n",
            "[tool.nnhealth] in pyproject.toml: unknown key 'stepz'",
        ),
        ("[tool.nnhealth]\nthresholds = 3\n", "'thresholds' must be a table"),
        (
            "[tool.nnhealth.thresholds]\ndead_fraction_max = 'x'\n",
            "[tool.nnhealth.thresholds]: thresholds: dead_fraction_max must be float",
        ),
        (
            "[tool.pytest.ini_options]\nnnhealth_steps = 'x'\n",
            "ini key nnhealth_steps: 'steps' must be a positive integer, got 'x'",
        ),
        (
            "[tool.pytest.ini_options]\nnnhealth_thresholds = ['bogus=1']\n",
            "ini key nnhealth_thresholds: thresholds: unknown key 'bogus'",
        ),
    ],
)
def test_config_errors_name_the_key(pytester: pytest.Pytester, pyproject, message):
    pytester.makepyprojecttoml(pyproject)
    with pytest.raises(pytest.UsageError) as raised:
        _settings(pytester)
    assert message in str(raised.value)


def test_cli_errors_name_the_option(pytester: pytest.Pytester):
    with pytest.raises(pytest.UsageError, match="option --nnhealth-seed: 'seed'"):
        _settings(pytester, "--nnhealth-seed=x")
    with pytest.raises(pytest.UsageError, match="option --nnhealth-threshold: thresh"):
        _settings(pytester, "--nnhealth-threshold=nope=1")
