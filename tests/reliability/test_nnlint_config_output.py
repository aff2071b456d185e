"""Bad selectors and configuration values are usage errors (exit 2) naming the key;
output survives file names the terminal cannot show and readers that go away."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nnlint_reliability_helpers import SOFTMAX, run, run_process


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--select", "NNL999"], "--select: 'NNL999' matches no rule"),
        (["--extend-select", "NNL9"], "--extend-select: 'NNL9' matches no rule"),
        (["--ignore", "NNL8"], "--ignore: 'NNL8' matches no rule"),
    ],
)
def test_unknown_selector_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], named: str
) -> None:
    (tmp_path / "m.py").write_text(SOFTMAX)
    code, out, err = run(capsys, *argv, str(tmp_path / "m.py"))
    assert (code, out) == (2, "")
    assert named in err


@pytest.mark.parametrize("value", ["abc", "0", "-1", "2.5"])
def test_bad_jobs_variable_is_a_usage_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    value: str,
) -> None:
    """NNLINT_JOBS was silently ignored when it was not a whole number >= 1."""
    (tmp_path / "m.py").write_text(SOFTMAX)
    monkeypatch.setenv("NNLINT_JOBS", value)
    code, out, err = run(capsys, str(tmp_path / "m.py"))
    assert (code, out) == (2, "")
    assert f"NNLINT_JOBS: expected a whole number >= 1, got {value!r}" in err


def test_jobs_option_wins_over_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "m.py").write_text(SOFTMAX)
    monkeypatch.setenv("NNLINT_JOBS", "abc")
    code, _, err = run(capsys, "-j", "1", str(tmp_path / "m.py"))
    assert code == 1
    assert "NNLINT_JOBS" not in err


@pytest.mark.parametrize(
    ("pyproject", "named"),
    [
        ('tool = "x"\n', "'tool' must be a table"),
        ('[tool.nnlint]\nselect = ["NNL999"]\n', "select: 'NNL999' matches no rule"),
        ("[tool.nnlint]\nselect = 3\n", "'select' must be a list"),
        ("[tool.nnlint]\nnope = 1\n", "unknown key(s) nope"),
        ("[tool.nnlint]\nper-file-ignores = 1\n", "'per-file-ignores' must be"),
        ("[tool.nnlint]\nfx = 1\n", "'fx' must be a table"),
        ("[tool.nnlint.fx]\nmodels = [3]\n", "[tool.nnlint.fx] models"),
        ('[tool.nnlint.fx]\nmodels = "a:b"\n', "[tool.nnlint.fx] models"),
        ("[tool.nnlint.fx]\nmodels = [{inputs = 1}]\n", "[tool.nnlint.fx] models"),
        ('[tool.nnlint.fx]\nmodels = ["nocolon"]\n', "got 'nocolon'"),
        ('[tool.nnlint.fx]\nmodels = ["pkg:"]\n', "got 'pkg:'"),
        ('[tool.nnlint.fx]\nmodels = [{factory = ":f"}]\n', "[tool.nnlint.fx] models"),
        ("[tool.nnlint.fx]\ntimeout = inf\n", "[tool.nnlint.fx] timeout"),
        ("[tool.nnlint.fx]\ntimeout = nan\n", "[tool.nnlint.fx] timeout"),
        ("[tool.nnlint.fx]\ntimeout = -1\n", "[tool.nnlint.fx] timeout"),
        ("[tool.nnlint.fx]\ntimeout = true\n", "[tool.nnlint.fx] timeout"),
        ('[tool.nnlint.fx]\ntimeout = "5"\n', "[tool.nnlint.fx] timeout"),
        ("[tool.nnlint.fx]\npythonpath = [1]\n", "[tool.nnlint.fx] pythonpath"),
        ("[tool.nnlint.fx]\nloss = 1\n", "[tool.nnlint.fx] loss"),
        ("[tool.nnlint\n", "cannot read"),
        ('[tool.nnlint]\nselect = [""]\n', "'select': invalid rule selector ''"),
        ('[tool.nnlint]\nignore = [" "]\n', "'ignore': invalid rule selector ''"),
        ("[tool.nnlint]\nselect = []\n", "the selection enables no rule"),
        ('[tool.nnlint]\nignore = ["NNL"]\n', "the selection enables no rule"),
    ],
)
def test_bad_configuration_is_a_usage_error_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pyproject: str, named: str
) -> None:
    (tmp_path / "pyproject.toml").write_text(pyproject)
    (tmp_path / "m.py").write_text(SOFTMAX)
    code, out, err = run(capsys, str(tmp_path / "m.py"))
    assert (code, out) == (2, "")
    assert err.startswith("nnlint: error: ")
    assert named in err
    assert "internal error" not in err


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--ignore", "NNL"], "the selection enables no rule"),
        (["--select", "NNL1", "--ignore", "NNL1"], "the selection enables no rule"),
        (["--select", "NNL601"], "only graph-mode rules (NNL6xx), which run with --fx"),
        (["-j", "0"], "--jobs/-j: expected a whole number >= 1, got '0'"),
        (["--jobs", "-3"], "--jobs/-j: expected a whole number >= 1, got '-3'"),
        (["-"], "does not read source from standard input ('-')"),
        ([""], "an empty path ('') was given"),
    ],
)
def test_a_run_that_would_check_nothing_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], named: str
) -> None:
    """Each of these printed "All checks passed." (exit 0) or ran on one job
    silently: a CI gate that checks nothing must not pass."""
    (tmp_path / "m.py").write_text(SOFTMAX)
    path = [] if argv in (["-"], [""]) else [str(tmp_path / "m.py")]
    code, out, err = run(capsys, *argv, *path)
    assert (code, out) == (2, "")
    assert named in err
    assert "Traceback" not in err


def test_a_tree_without_python_files_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("import torch\n")
    (tmp_path / "gone.py").symlink_to(tmp_path / "nowhere.py")
    code, out, err = run(capsys, str(tmp_path))
    assert (code, out) == (0, "All checks passed.\n")
    assert "nnlint: warning: no Python file found to lint" in err
    assert "skipped" in err  # and why the one candidate was not linted


def test_empty_select_with_extend_select_runs_those_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.nnlint]\nselect = []\nextend-select = ["NNL1"]\n'
    )
    (tmp_path / "m.py").write_text(SOFTMAX)
    code, out, _ = run(capsys, str(tmp_path / "m.py"))
    assert code == 1
    assert "NNL1" in out


def test_model_entries_as_strings_and_tables_are_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.nnlint.fx]\nmodels = ["pkg.models:build", {factory = "pkg:Net"}]\n'
        "timeout = 30\n"
    )
    (tmp_path / "m.py").write_text(SOFTMAX)
    assert run(capsys, str(tmp_path / "m.py"))[0] == 1


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    value=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-10, max_value=10),
        st.booleans(),
        st.text(max_size=3),
    )
)
def test_any_timeout_is_accepted_or_named(
    tmp_path_factory: pytest.TempPathFactory, value: object
) -> None:
    from nnlint.engine.config import ConfigError, config_from_table

    valid = (
        not isinstance(value, bool | str)
        and value == value  # not nan
        and abs(value) != float("inf")  # type: ignore[arg-type]
        and value > 0  # type: ignore[operator]
    )
    if valid:
        config_from_table({"fx": {"timeout": value}})
    else:
        with pytest.raises(ConfigError, match=r"\[tool.nnlint.fx\] timeout"):
            config_from_table({"fx": {"timeout": value}})


def _non_ascii_tree(root: Path) -> None:
    os.makedirs(root, exist_ok=True)
    (root / "modèle.py").write_text(SOFTMAX)
    # A file name that is not UTF-8 (Latin-1 bytes): Python sees surrogate escapes.
    with open(os.path.join(os.fsencode(root), b"caf\xe9.py"), "wb") as stream:
        stream.write(SOFTMAX.encode())


@pytest.mark.parametrize("output_format", ["text", "json", "github", "sarif"])
def test_file_names_the_terminal_cannot_show(
    tmp_path: Path, output_format: str
) -> None:
    _non_ascii_tree(tmp_path / "src")
    result = run_process(
        "--output-format",
        output_format,
        "src",
        cwd=tmp_path,
        env={"PYTHONIOENCODING": "ascii"},
    )
    error = result.stderr.decode()
    assert (result.returncode, error) == (1, "")
    out = result.stdout.decode("ascii")  # pure ASCII whatever the names
    if output_format in ("json", "sarif"):
        document = json.loads(out)
        text = json.dumps(document)
        assert "mod\\u00e8le.py" in text or "mod%C3%A8le.py" in text
    if output_format == "sarif":
        uris = {
            result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for result in document["runs"][0]["results"]
        }
        assert uris == {"src/caf%E9.py", "src/mod%C3%A8le.py"}
    if output_format == "text":
        assert "src/mod\\xe8le.py:3:5: NNL108" in out
        assert "src/caf\\udce9.py:3:5: NNL108" in out


def test_closed_pipe_ends_quietly_with_141(tmp_path: Path) -> None:
    for index in range(5):
        (tmp_path / f"m{index:03}.py").write_text(SOFTMAX)
    environment = {**os.environ, "NNLINT_CACHE_DIR": str(tmp_path / ".cache")}
    code = "import sys\nfrom nnlint.cli import main\nsys.exit(main())"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "--no-cache", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.close()  # the reader is gone before nnlint writes (`| true`)
    with process.stderr:
        error = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141
    assert error == ""
