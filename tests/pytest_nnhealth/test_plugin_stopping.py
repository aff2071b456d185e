"""budget_s and early_stop through the pytest surface: ini keys, options, marker,
fixture (pytester, in-process: torch is already imported by tests/conftest.py)."""

from __future__ import annotations

import pytest
from nnhealth_plugin_helpers import make_project

import pytest_nnhealth.training.health_check  # noqa: F401  (imported before pytester's module snapshot)
from pytest_nnhealth.plugin.settings import parse_layer


def test_layer_parses_budget_and_early_stop():
    layer = parse_layer({"budget_s": "2.5", "early_stop": "yes"}, "test")
    assert layer.check == {"budget_s": 2.5, "early_stop": True}
    assert parse_layer({"budget_s": "none"}, "test").check == {"budget_s": None}


@pytest.mark.parametrize("value", ["0", "-1", "soon", "true"])
def test_bad_budget_names_the_key_and_its_place(value):
    with pytest.raises(
        pytest.UsageError, match="ini key x: 'budget_s' must be a number"
    ):
        parse_layer({"budget_s": value}, "ini key x")


def test_ini_cli_and_marker_reach_check(pytester: pytest.Pytester):
    make_project(pytester, ini="nnhealth_budget_s = 30\nnnhealth_early_stop = true")
    pytester.makepyfile(
        """
        import pytest
        from tiny_models import make_tiny

        def test_ini(nnhealth):
            assert nnhealth.settings.check["budget_s"] == 30.0
            assert nnhealth.settings.check["early_stop"] is True
            model, batch, loss_fn = make_tiny()
            report = nnhealth(model, batch, loss_fn=loss_fn)
            assert report.meta["run"]["budget_s"] == 30.0
            assert report.meta["run"]["early_stop"] is True

        @pytest.mark.nnhealth(early_stop=False, budget_s=1e-9)
        def test_marker(nnhealth):
            model, batch, loss_fn = make_tiny()
            report = nnhealth(model, batch, loss_fn=loss_fn)
            assert report.meta["run"]["stopped"] == "budget"
            assert report.steps == 1
            assert report.meta["run"]["early_stop"] is False
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)
    # The command line wins over the ini key: test_ini's early_stop assertion fails.
    result = pytester.runpytest("--nnhealth-no-early-stop")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["FAILED *::test_ini - assert False is True"])
