"""Under pytest-xdist (-n 2) the summary and the reports equal a serial run's."""

from __future__ import annotations

import json

import pytest
from nnhealth_plugin_helpers import make_project

pytest.importorskip("xdist")

TESTS = """
from tiny_models import make_tiny, make_dead

def test_tiny(nnhealth):
    model, batch, loss_fn = make_tiny()
    nnhealth(model, batch, loss_fn=loss_fn).assert_healthy()

def test_dead(nnhealth):
    spec = make_dead()
    nnhealth(spec["model"], spec["batch"], loss_fn=spec["loss_fn"])

def test_plain():
    pass
"""


def _summary(lines: list[str]) -> list[str]:
    start = next(i for i, line in enumerate(lines) if "nnhealth summary" in line)
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("===="))
    # The table, without the "nnhealth: wrote <path>" lines (the paths differ).
    return [line for line in lines[start:end] if not line.startswith("nnhealth: wrote")]


def _models(path) -> list[dict]:
    models = json.loads(path.read_text())["models"]
    for model in models:
        if model["report"] is not None:
            meta = model["report"]["meta"]
            # Wall-clock time and resident memory differ per run and process.
            for key in ("timings", "peak_memory_mb", "graph_memory_mb"):
                meta.pop(key, None)
    return models


def test_xdist_run_matches_serial_run(pytester: pytest.Pytester):
    make_project(
        pytester, table='models = ["tiny_models:make_tiny", "tiny_models:make_dead"]'
    )
    pytester.makepyfile(test_health=TESTS)
    args = ["--nnhealth", "-p", "no:cacheprovider", "-p", "no:randomly"]
    serial = pytester.runpytest_subprocess(
        *args, "--nnhealth-report=serial.json", "--nnhealth-report=serial.html"
    )
    serial.assert_outcomes(passed=4, failed=1)
    parallel = pytester.runpytest_subprocess(
        *args, "-n", "2", "--nnhealth-report=xdist.json", "--nnhealth-report=xdist.html"
    )
    parallel.assert_outcomes(passed=4, failed=1)
    summary = _summary(serial.outlines)
    assert len(summary) >= 6
    assert _summary(parallel.outlines) == summary
    assert _models(pytester.path / "xdist.json") == _models(
        pytester.path / "serial.json"
    )
    html = (pytester.path / "serial.html").read_text()
    assert (pytester.path / "xdist.html").read_text() == html


def test_a_bad_marker_under_xdist_is_the_same_usage_error_as_serial(
    pytester: pytest.Pytester,
):
    """Markers are checked when a worker collects: the worker hands the message to
    the controller instead of crashing (which xdist shows as an INTERNALERROR)."""
    make_project(pytester)
    pytester.makepyfile(
        test_typo="""
        import pytest

        @pytest.mark.nnhealth(stepz=3)
        def test_typo(nnhealth):
            pass

        def test_plain():
            pass
        """
    )
    results = [
        pytester.runpytest_subprocess("-p", "no:cacheprovider", *extra)
        for extra in ((), ("-n", "2"))
    ]
    for result in results:
        output = result.stdout.str() + result.stderr.str()
        assert result.ret == pytest.ExitCode.USAGE_ERROR, output
        assert "INTERNALERROR" not in output
        assert "Traceback" not in output
        result.stderr.fnmatch_lines(
            [
                "ERROR: nnhealth: @pytest.mark.nnhealth on test_typo.py::test_typo: "
                "thresholds: unknown key 'stepz'*"
            ]
        )
