"""The pytest plugin under hostile settings: every bad path, ini value or baseline is
one usage error (exit 4) before any test runs, never a traceback after the run, and
no file of the user's is replaced (pytester, in-process)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pytest_nnhealth.plugin import baseline

# Each test writes a marker: a usage error must stop the session before any runs.
TESTS = """
import pathlib


def test_one(nnhealth):
    pathlib.Path("ran-one").touch()


def test_two(nnhealth):
    pathlib.Path("ran-two").touch()
"""


def _run(pytester: pytest.Pytester, *arguments: str) -> pytest.RunResult:
    pytester.makepyfile(test_hostile=TESTS)
    return pytester.runpytest(*arguments)


def _assert_usage_error(
    pytester: pytest.Pytester, result: pytest.RunResult, *expected: str
) -> None:
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = "\n".join(result.outlines + result.errlines)
    assert "Traceback" not in output
    for text in expected:
        assert text in output, output
    assert not list(pytester.path.glob("ran-*"))  # no test ran


def test_report_path_that_is_a_directory(pytester: pytest.Pytester) -> None:
    (pytester.path / "out.json").mkdir()
    result = _run(pytester, "--nnhealth-report=out.json")
    _assert_usage_error(pytester, result, "--nnhealth-report=out.json: is a directory")


def test_report_path_under_a_file(pytester: pytest.Pytester) -> None:
    (pytester.path / "notes.txt").write_text("mine\n")
    result = _run(pytester, "--nnhealth-report=notes.txt/deeper/report.html")
    _assert_usage_error(pytester, result, "notes.txt is a file")
    assert (pytester.path / "notes.txt").read_text() == "mine\n"


@pytest.fixture
def unwritable_directory(tmp_path: Path) -> Path:
    """A directory this process cannot create files in (root ignores mode bits, but
    not /proc's rules)."""
    if os.geteuid() == 0:
        return Path("/proc/self")
    directory = tmp_path / "locked"
    directory.mkdir()
    directory.chmod(0o500)
    return directory


@pytest.mark.parametrize("option", ["--nnhealth-report", "--nnhealth-save-baseline"])
def test_path_in_an_unwritable_directory(
    pytester: pytest.Pytester, unwritable_directory: Path, option: str
) -> None:
    target = unwritable_directory / "nnhealth.json"
    result = _run(pytester, f"{option}={target}")
    _assert_usage_error(pytester, result, f"cannot write in {unwritable_directory}")


@pytest.mark.parametrize(
    "content",
    [
        "# Notes\n\nmy own notes\n",
        '{"format": 1, "models": {}, "owner": "another tool"}\n',
        "[1, 2, 3]\n",
    ],
)
def test_save_baseline_never_replaces_another_file(
    pytester: pytest.Pytester, content: str
) -> None:
    notes = pytester.path / "NOTES.md"
    notes.write_text(content, encoding="utf-8")
    before = notes.read_bytes()
    result = _run(pytester, "--nnhealth-save-baseline=NOTES.md")
    _assert_usage_error(
        pytester, result, "NOTES.md exists and is not an nnhealth baseline"
    )
    assert notes.read_bytes() == before


def test_bad_ini_value_without_nnhealth_is_one_usage_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nnnhealth_steps = many\n")
    result = _run(pytester)
    message = "nnhealth: ini key nnhealth_steps: 'steps' must be a positive integer"
    _assert_usage_error(pytester, result, message)
    assert "\n".join(result.outlines + result.errlines).count(message) == 1


def test_bad_tool_table_without_nnhealth_is_one_usage_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyprojecttoml("[tool.nnhealth]\nstepz = 5\n")
    result = _run(pytester)
    _assert_usage_error(pytester, result, "unknown key 'stepz'")


def test_projects_without_nnhealth_settings_are_not_stopped(
    pytester: pytest.Pytester,
) -> None:
    """Start-up validation runs only when a setting of nnhealth's is written, so a
    project that does not use nnhealth never pays for it or fails on it."""
    from pytest_nnhealth.plugin.startup import has_settings

    pytester.makepyprojecttoml("[tool.other]\nsteps = 'many'\n")
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    pytester.runpytest().assert_outcomes(passed=1)
    config = pytester.parseconfigure()
    assert not has_settings(config)


@pytest.mark.parametrize(
    ("models", "key"),
    [
        ({"m": {"fc": {"act_std": "big"}}}, "models['m']['fc']['act_std'] must be"),
        ({"m": {"fc": [1.0]}}, "models['m']['fc'] must be a table"),
        ({"m": 3}, "models['m'] must be a table"),
        ([], "models must be a table"),
        (
            {"m": {"fc": {"a": True}}},
            "models['m']['fc']['a'] must be a number, got True",
        ),
    ],
)
def test_baseline_with_wrong_value_types(
    pytester: pytest.Pytester, models: object, key: str
) -> None:
    document = {"format": 1, "kind": baseline.KIND, "models": models}
    (pytester.path / "base.json").write_text(json.dumps(document), encoding="utf-8")
    result = _run(pytester, "--nnhealth-baseline=base.json")
    _assert_usage_error(pytester, result, f"base.json: {key}")


def test_a_late_write_failure_is_reported_not_raised(
    pytester: pytest.Pytester,
) -> None:
    """The report's directory is replaced by a file during the run: one error line,
    exit 4, no traceback."""
    (pytester.path / "out").mkdir()
    pytester.makepyfile(
        test_swap="""
        import pathlib

        def test_swap():
            pathlib.Path("out").rmdir()
            pathlib.Path("out").write_text("a file now")
        """
    )
    result = pytester.runpytest("--nnhealth-report=out/report.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["nnhealth: error: could not write out/report.json*"])
    assert "Traceback" not in "\n".join(result.outlines + result.errlines)
    assert (pytester.path / "out").read_text() == "a file now"


def test_saving_replaces_our_baselines_atomically(tmp_path: Path) -> None:
    """Old-format baselines (no marker) and marked ones are ours: they are updated,
    and the marker is written."""
    path = tmp_path / "base.json"
    path.write_text('{"format": 1, "models": {"old": {"fc": {"act_std": 1.0}}}}')
    path.chmod(0o640)
    assert baseline.save(path, []) == 0
    saved = json.loads(path.read_text())
    assert saved["kind"] == baseline.KIND
    assert saved["models"] == {"old": {"fc": {"act_std": 1.0}}}
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["base.json"]  # no temp file left
