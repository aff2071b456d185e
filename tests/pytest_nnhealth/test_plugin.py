"""The ``nnhealth`` fixture, the marker and the session settings, end to end (pytester,
in-process: torch is already imported by tests/conftest.py)."""

from __future__ import annotations

import pytest
from nnhealth_plugin_helpers import make_project

import pytest_nnhealth.training.health_check  # noqa: F401  (imported before pytester's module snapshot)

FIXTURE_TESTS = """
import pytest
from tiny_models import make_tiny, make_dead


def test_tiny_is_healthy(nnhealth):
    model, batch, loss_fn = make_tiny()
    report = nnhealth(model, batch, loss_fn=loss_fn)
    assert report.steps == 5
    report.assert_healthy()


def test_dead_is_unhealthy(nnhealth):
    spec = make_dead()
    nnhealth(spec["model"], spec["batch"], loss_fn=spec["loss_fn"]).assert_healthy()
"""


def test_fixture_binds_check_to_the_session_settings(pytester: pytest.Pytester):
    make_project(pytester)
    pytester.makepyfile(test_health=FIXTURE_TESTS)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*dead_units*act*1*< 0.40*", "*FAILED test_health.py::test_dead_is_unhealthy*"]
    )


def test_fixture_call_keywords_win_over_settings(pytester: pytest.Pytester):
    make_project(pytester)
    pytester.makepyfile(
        """
        from tiny_models import make_dead

        def test_override(nnhealth):
            spec = make_dead()
            report = nnhealth(
                spec["model"], spec["batch"], loss_fn=spec["loss_fn"], steps=4,
                thresholds={"ignore": ["dead_units", "vanishing_gradients",
                                       "zero_gradients", "rank_collapse"]},
            )
            assert report.steps == 4
            assert nnhealth.settings.check["steps"] == 5
            report.assert_healthy()
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_precedence_marker_over_cli_over_ini(pytester: pytest.Pytester):
    make_project(pytester, ini="nnhealth_seed = 1\nnnhealth_thresholds = ['window=2']")
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.nnhealth(window=4)

        def test_ini_and_cli(nnhealth):
            assert nnhealth.settings.check == {"steps": 3, "graph": False, "seed": 1}
            assert nnhealth.thresholds.window == 4

        @pytest.mark.nnhealth(steps=2, dead_fraction_max=0.9)
        def test_marker(nnhealth):
            assert nnhealth.settings.check["steps"] == 2
            assert nnhealth.thresholds.dead_fraction_max == 0.9
            assert nnhealth.thresholds.window == 4

        class TestNested:
            pytestmark = pytest.mark.nnhealth(window=6)

            @pytest.mark.nnhealth(window=7)
            def test_closest_marker_wins(self, nnhealth):
                assert nnhealth.thresholds.window == 7
        """
    )
    pytester.runpytest("--nnhealth-steps=3").assert_outcomes(passed=3)


def test_unknown_marker_key_stops_the_run_naming_test_and_key(
    pytester: pytest.Pytester,
):
    make_project(pytester)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.nnhealth(dead_fraction_maxx=0.5)
        def test_typo(nnhealth):
            pass
        """
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: nnhealth: @pytest.mark.nnhealth on "
            "test_unknown_marker_key_stops_the_run_naming_test_and_key.py::test_typo: "
            "thresholds: unknown key "
            "'dead_fraction_maxx'*"
        ]
    )
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_marker_with_a_wrong_type_or_positional_argument(pytester: pytest.Pytester):
    make_project(pytester)
    pytester.makepyfile(
        test_a="""
        import pytest

        @pytest.mark.nnhealth(steps="many")
        def test_a(nnhealth):
            pass
        """
    )
    result = pytester.runpytest("test_a.py")
    result.stderr.fnmatch_lines(
        ["*test_a.py::test_a: 'steps' must be a positive integer*"]
    )
    pytester.makepyfile(
        test_b="""
        import pytest

        @pytest.mark.nnhealth(5)
        def test_b():
            pass
        """
    )
    result = pytester.runpytest("test_b.py")
    result.stderr.fnmatch_lines(["*test_b.py::test_b: takes keyword arguments only*"])


def test_bad_ini_value_is_a_usage_error_with_nnhealth(pytester: pytest.Pytester):
    make_project(pytester, ini="nnhealth_baseline_factor = 'lots'")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--nnhealth")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: nnhealth: ini key nnhealth_baseline_factor: "
            "'baseline_factor' must be*"
        ]
    )


def test_bad_ini_value_is_a_usage_error_without_nnhealth(
    pytester: pytest.Pytester,
):
    """One usage error at start-up (exit 4), not an error in every fixture set-up
    (tests/reliability/test_plugin_hostile.py has the other cases)."""
    make_project(pytester, ini="nnhealth_baseline_factor = 'lots'")
    pytester.makepyfile("def test_uses(nnhealth): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: nnhealth: ini key nnhealth_baseline_factor*"])


def test_assertion_helpers_through_the_fixture(pytester: pytest.Pytester):
    make_project(pytester)
    pytester.makepyfile(
        """
        import pytest
        from tiny_models import make_tiny

        def test_ranges(nnhealth):
            model, batch, loss_fn = make_tiny()
            report = nnhealth(model, batch, loss_fn=loss_fn)
            report.assert_activation_std(1e-4, 1e4)
            report.assert_grad_norm(0.0, 1e6)
            report.assert_update_ratio(0.0, 10.0)
            report.assert_grad_ratio(1e-6, 1e6)
            with pytest.raises(AssertionError) as raised:
                report.assert_activation_std(1e3, 1e4)
            lines = str(raised.value).splitlines()
            assert lines[0] == "3 module(s) out of range:"
            assert lines[1].startswith("`fc1` (Linear): act_std = ")
            assert lines[1].endswith(", expected in [1000, 10000]")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_fixture_is_absent_when_the_plugin_is_disabled(pytester: pytest.Pytester):
    pytester.makepyfile("def test_uses(nnhealth): pass")
    result = pytester.runpytest("-p", "no:nnhealth")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'nnhealth' not found*"])


def test_help_lists_the_option_group(pytester: pytest.Pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "training-dynamics health checks (pytest-nnhealth):",
            "*--nnhealth *",
            "*--nnhealth-report=PATH*",
        ]
    )


def test_summary_rows_follow_verbosity(pytester: pytest.Pytester):
    make_project(pytester)
    pytester.makepyfile(test_health=FIXTURE_TESTS)
    result = pytester.runpytest("--nnhealth", "-q")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*= nnhealth summary =*",
            # 80 columns leave too little room beside the row: symptoms go below it.
            "model    verdict    layers  checked in",
            "TinyNet  UNHEALTHY       3  test_dead_is_unhealthy",
            # Root cause first: fc1's -20 bias makes every row the same (it starts
            # there); the dead ReLU after it is its consequence.
            "    rank_collapse (fc1: 0.952, healthy sigma_1/sum(sigma) < 0.90); *",
            "    (act: 1, healthy < 0.40); vanishing_gradients (fc1: 0, healthy *",
            "TinyNet  healthy         3  test_tiny_is_healthy",
            "2 models checked: 1 healthy, 1 unhealthy",
        ]
    )
    result = pytester.runpytest("--nnhealth", "-qq")
    assert "nnhealth summary" not in result.stdout.str()
    result = pytester.runpytest()
    assert "nnhealth summary" not in result.stdout.str()
