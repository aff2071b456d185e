"""Health items from ``[tool.nnhealth] models``: health checks with no test code."""

from __future__ import annotations

import pytest
from nnhealth_plugin_helpers import make_project

from pytest_nnhealth.plugin.model_items import (
    ModelLoadError,
    load_factory,
    parse_models,
    unpack,
)

DEAD_IGNORED = (
    '{ factory = "tiny_models:make_dead", name = "dead-but-ignored", '
    "thresholds_ignore = 1 }"
)


def test_entries_are_strings_or_tables():
    specs = parse_models(
        [
            "pkg.mod:make",
            {"factory": "pkg.mod:Factory.build", "name": "big", "steps": 3},
        ],
        "src",
    )
    assert [(s.target, s.name, s.overrides) for s in specs] == [
        ("pkg.mod:make", "pkg.mod:make", {}),
        ("pkg.mod:Factory.build", "big", {"steps": 3}),
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("pkg:make", "'models' must be a list"),
        (["pkg.make"], "'pkg.make' is not of the form 'package.module:function'"),
        ([{"name": "x"}], "a table with a 'factory' key"),
        (["a:b", {"factory": "c:d", "name": "a:b"}], "duplicate model names ['a:b']"),
    ],
)
def test_bad_entries_are_usage_errors(value, message):
    with pytest.raises(pytest.UsageError) as raised:
        parse_models(value, "[tool.nnhealth] models")
    assert message in str(raised.value)


def test_load_factory_errors_are_clear():
    with pytest.raises(
        ModelLoadError, match="(?s)cannot import 'no_such_pkg_x' .*pythonpath"
    ):
        load_factory("no_such_pkg_x:make")
    with pytest.raises(
        ModelLoadError,
        match="model factory 'json:nope': 'json' has no attribute 'nope'",
    ):
        load_factory("json:nope")
    with pytest.raises(ModelLoadError, match="'json:__doc__' is not callable"):
        load_factory("json:__doc__")


def test_unpack_accepts_a_triple_or_a_dict():
    assert unpack(("m", "b", "l"), "t") == ("m", "b", {"loss_fn": "l"})
    assert unpack({"model": "m", "batch": "b", "step_fn": "s"}, "t") == (
        "m",
        "b",
        {"step_fn": "s"},
    )
    with pytest.raises(
        ModelLoadError, match="factory t returned a dict without \\['batch'\\]"
    ):
        unpack({"model": "m"}, "t")
    with pytest.raises(ModelLoadError, match="must return \\(model, batch, loss_fn\\)"):
        unpack(("m", "b"), "t")


def test_declared_models_become_health_items(pytester: pytest.Pytester):
    make_project(
        pytester,
        table='models = ["tiny_models:make_tiny", '
        '{ factory = "tiny_models:make_dead", name = "dead" }]',
    )
    result = pytester.runpytest("--nnhealth", "--co", "-q")
    result.stdout.fnmatch_lines(
        ["pyproject.toml::tiny_models:make_tiny", "pyproject.toml::dead"]
    )
    result = pytester.runpytest("--nnhealth", "-rA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "collected 2 items",
            "*_ nnhealth model dead _*",
            "tiny_models:make_dead: TinyNet: 5 unhealthy finding(s) in 5 steps",
            "check  * module  * value  healthy  * step",
            "rank_collapse  * fc1  * 0.952  *",  # root cause first: fc1's -20 bias
            "dead_units  * act  * 1  * < 0.40  * 0",
            "*consequence of rank_collapse in `fc1`*",
            "*= nnhealth summary =*",
            "model    verdict    layers  checked in       worst symptoms",
            "dead     UNHEALTHY       3  [[]tool.nnhealth]  rank_collapse (fc1: *",
            "TinyNet  healthy         3  [[]tool.nnhealth]  -",
            "2 models checked: 1 healthy, 1 unhealthy",
        ]
    )


def test_per_model_overrides_apply(pytester: pytest.Pytester):
    ignore = '["dead_units", "vanishing_gradients", "zero_gradients", "rank_collapse"]'
    make_project(
        pytester,
        table=f'models = [{{ factory = "tiny_models:make_dead", name = "d", '
        f"ignore = {ignore}, steps = 3 }}]",
    )
    pytester.runpytest("--nnhealth").assert_outcomes(passed=1)


def test_broken_factories_fail_their_own_item(pytester: pytest.Pytester):
    make_project(
        pytester, table='models = ["nope_pkg.models:make", "tiny_models:batch"]'
    )
    result = pytester.runpytest("--nnhealth")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "cannot import 'nope_pkg.models' for model factory "
            "'nope_pkg.models:make': ModuleNotFoundError: No module named 'nope_pkg'",
            "model factory tiny_models:batch must return (model, batch, loss_fn) *",
            "nope_pkg.models:make  ERROR         -  [[]tool.nnhealth]",
            "    error: cannot import 'nope_pkg.models' for model factory",
            "2 models checked: 2 errors",
        ]
    )
    assert "INTERNALERROR" not in result.stdout.str()


def test_factory_exception_is_a_short_failure(pytester: pytest.Pytester):
    make_project(pytester, table='models = ["factories:make"]')
    pytester.makepyfile(factories="def make():\n    raise RuntimeError('no data')\n")
    result = pytester.runpytest("--nnhealth")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["E   RuntimeError: no data", "*ERROR*error: RuntimeError: no data"]
    )


def test_models_only_with_nnhealth_and_without_node_ids(pytester: pytest.Pytester):
    make_project(pytester, table='models = ["tiny_models:make_tiny"]')
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    assert "make_tiny" not in pytester.runpytest("--co", "-q").stdout.str()
    result = pytester.runpytest("--nnhealth", "--co", "-q", "test_x.py::test_x")
    assert "make_tiny" not in result.stdout.str()


def test_bad_models_table_stops_the_run(pytester: pytest.Pytester):
    make_project(pytester, table='models = "tiny_models:make_tiny"')
    result = pytester.runpytest("--nnhealth")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: nnhealth: [[]tool.nnhealth] models: 'models' must*"]
    )
