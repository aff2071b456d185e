"""End-to-end CLI behaviour with small test rules, compared against snapshots.

Snapshots live in ``tests/nnlint/fixtures/cli/``; regenerate them with
``NNLINT_REGEN_SNAPSHOTS=1 .venv/bin/pytest tests/nnlint/test_cli.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import libcst as cst
import pytest

from nnlint.cli import check, docsgen, main
from nnlint.engine import pipeline
from nnlint.rules import Invalid, Rule, all_rules
from nnlint.rules.needs import Needs

SNAPSHOTS = Path(__file__).parent / "fixtures" / "cli"
DOC = """## What it does\nTest rule.\n## Why is this bad?\nIt is not.\n## Example\nx\n
## Use instead\ny\n## Fix safety\nTest.\n## References\nNone.\n"""


class FakeSoftmax(Rule):
    __doc__ = DOC
    CODE = "NNL901"
    NAME = "fake-softmax"
    MESSAGE = "torch.softmax called"
    FIX_TITLE = "call torch.log_softmax"
    FIX_IS_SAFE = True
    NEEDS = Needs(("softmax",))
    VALID = ["x = 1\n"] * 3
    INVALID = [Invalid("import torch\ntorch.softmax(x)\n")] * 3

    def visit_Call(self, node: cst.Call) -> None:
        if self.qualified_name(node.func) == "torch.softmax":
            assert isinstance(node.func, cst.Attribute)
            new = node.func.with_changes(attr=cst.Name("log_softmax"))
            self.report(node, replacements={node.func: new})


class FakeOldName(Rule):
    __doc__ = DOC
    CODE = "NNL902"
    NAME = "fake-old-name"
    MESSAGE = "old_name assigned"
    SEVERITY = "warning"
    FIX_TITLE = "rename to new_name"
    NEEDS = Needs(("old_name",))

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == "old_name":
            self.report(node, replacements={node: cst.Name("new_name")})


class FakeBrokenFix(Rule):
    __doc__ = DOC
    CODE = "NNL903"
    NAME = "fake-broken-fix"
    MESSAGE = "breakme called"
    SEVERITY = "info"
    FIX_TITLE = "produce invalid code"
    FIX_IS_SAFE = True
    NEEDS = Needs(("breakme",))

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value == "breakme":
            self.report(node, replacements={node: cst.Name("return")})


FAKE_RULES = (
    *(r for r in all_rules() if r.CODE.startswith("NNL00")),
    FakeSoftmax,
    FakeOldName,
    FakeBrokenFix,
)

PROJECT = {
    "model.py": (
        "import torch\n"
        "import torch.nn.functional as F\n\n\n"
        "def head(x):\n"
        "    return torch.softmax(x, dim=-1)\n\n\n"
        "def quiet(x):\n"
        "    return torch.softmax(x, dim=-1)  # noqa: NNL901\n\n\n"
        "old_name = F.relu\n"
        "value = breakme()\n"
        "stale = 1  # noqa: NNL902, E501\n"
    ),
    "pkg/broken.py": "import torch\n\ndef f(x:\n    return torch.softmax(x)\n",
    "pkg/clean.py": "import torch\n\nx = torch.log_softmax(y, dim=1)\n",
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(pipeline, "all_rules", lambda: FAKE_RULES)
    codes = check.known_codes() | {rule.CODE for rule in FAKE_RULES}
    monkeypatch.setattr(check, "known_codes", lambda: codes)
    monkeypatch.setattr(docsgen, "all_rules", lambda: FAKE_RULES)
    monkeypatch.setattr(docsgen, "graph_rules", list)
    monkeypatch.setenv("NNLINT_CACHE_DIR", str(tmp_path / ".cache"))
    monkeypatch.delenv("NNLINT_DEBUG", raising=False)
    root = tmp_path / "project"
    for name, text in PROJECT.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    (root / "pkg" / "latin.py").write_bytes("x = 'café'\n".encode("latin-1"))
    monkeypatch.chdir(root)
    return root


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("NNLINT_REGEN_SNAPSHOTS"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"missing snapshot {path}; run with NNLINT_REGEN_SNAPSHOTS=1"
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("output_format", ["text", "json", "github", "sarif"])
def test_output_formats_snapshot(
    project: Path, capsys: pytest.CaptureFixture[str], output_format: str
) -> None:
    code, out, err = _run(
        capsys, "check", ".", "--output-format", output_format, "-j", "1"
    )
    assert (code, err) == (1, "")
    _snapshot(f"check.{output_format}", out.replace(str(project), "<project>"))


def test_json_findings_codes_and_positions(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "model.py", "pkg", "--output-format", "json")
    found = [(f["path"], f["line"], f["column"], f["code"]) for f in json.loads(out)]
    assert code == 1
    assert found == [
        ("model.py", 6, 12, "NNL901"),
        ("model.py", 13, 1, "NNL902"),
        ("model.py", 14, 9, "NNL903"),
        ("model.py", 15, 12, "NNL003"),
        ("pkg/broken.py", 3, 6, "NNL001"),
        ("pkg/latin.py", 1, 9, "NNL002"),
    ]


def test_statistics_and_exit_zero(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, ".", "--statistics", "--exit-zero")
    assert code == 0
    _snapshot("statistics.txt", out[out.index("Found") :])


@pytest.mark.parametrize(
    ("argv", "codes"),
    [
        (["--select", "NNL901"], ["NNL901"]),
        (["--select", "NNL9", "--ignore", "NNL902,NNL903"], ["NNL901"]),
        # NNL902 did not run, so its noqa code is not reported as unused.
        (["--ignore", "NNL9", "--extend-select", "NNL903"], ["NNL903"]),
        (["--select", "NNL00,NNL902"], ["NNL003", "NNL902"]),
    ],
)
def test_selection_options(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], codes: list[str]
) -> None:
    code, out, _ = _run(capsys, "model.py", "--output-format", "json", *argv)
    assert sorted({f["code"] for f in json.loads(out)}) == codes
    assert code == 1


def test_config_file_and_per_file_ignores(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.nnlint]\nignore = ["NNL903"]\n'
        '[tool.nnlint.per-file-ignores]\n"pkg/*" = ["NNL00"]\n',
        encoding="utf-8",
    )
    code, out, _ = _run(capsys, ".", "--output-format", "json")
    assert sorted({(f["path"], f["code"]) for f in json.loads(out)}) == [
        ("model.py", "NNL003"),
        ("model.py", "NNL901"),
        ("model.py", "NNL902"),
    ]
    # The command line overrides the file.
    code, out, _ = _run(
        capsys, "model.py", "--output-format", "json", "--select", "NNL903"
    )
    assert [f["code"] for f in json.loads(out)] == ["NNL903"]


def test_fix_applies_safe_fixes_and_discards_broken_ones(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "model.py", "--fix", "--output-format", "json")
    text = (project / "model.py").read_text(encoding="utf-8")
    assert "return torch.log_softmax(x, dim=-1)\n" in text
    assert "torch.softmax(x, dim=-1)  # noqa: NNL901" in text  # suppressed: not fixed
    assert "old_name = F.relu" in text  # unsafe fix: not applied without --unsafe-fixes
    assert "value = breakme()" in text
    assert "model.py:14:9: NNL903 fix discarded" in err
    assert code == 1
    assert [f["code"] for f in json.loads(out)] == ["NNL902", "NNL903", "NNL003"]


def test_unsafe_fixes_and_newlines_are_preserved(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crlf = (
        PROJECT["model.py"].replace("\n", "\r\n").replace("value = breakme()\r\n", "")
    )
    (project / "model.py").write_bytes(crlf.encode())
    _run(capsys, "model.py", "--fix", "--unsafe-fixes")
    data = (project / "model.py").read_bytes()
    assert b"new_name = F.relu\r\n" in data
    assert b"log_softmax(x, dim=-1)\r\n" in data
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_diff_prints_without_writing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (project / "model.py").read_text(encoding="utf-8")
    code, out, _ = _run(capsys, "model.py", "--diff", "--unsafe-fixes")
    assert (project / "model.py").read_text(encoding="utf-8") == before
    assert code == 1
    _snapshot("diff.txt", out)
    code, out, _ = _run(capsys, "pkg/clean.py", "--diff")
    assert (code, out) == (0, "")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.py"], "nnlint: error: missing.py: no such file or directory"),
        (["--select", "E501", "."], "invalid rule selector 'E501'"),
        (["rule", "NNL999"], "unknown rule 'NNL999'"),
        (["--output-format", "xml", "."], "invalid choice: 'xml'"),
    ],
)
def test_usage_errors_exit_2_with_one_clear_line(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_bad_config_is_a_usage_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "pyproject.toml").write_text(
        "[tool.nnlint]\nselectt = []\n", encoding="utf-8"
    )
    code, _, err = _run(capsys, ".")
    assert code == 2
    assert "unknown key(s) selectt" in err


def test_internal_error_is_one_line_unless_debugging(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(self: FakeSoftmax, node: cst.Call) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(FakeSoftmax, "visit_Call", crash)
    code, _, err = _run(capsys, "model.py", "--no-cache")
    assert code == 2
    assert err.startswith(
        "nnlint: internal error: while linting model.py: ZeroDivisionError"
    )
    assert err.count("\n") == 1
    monkeypatch.setenv("NNLINT_DEBUG", "1")
    code, _, err = _run(capsys, "model.py", "--no-cache")
    assert code == 2
    assert "Traceback" in err


def test_clean_file_exits_0(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "pkg/clean.py") == (0, "All checks passed.\n", "")


def test_rule_and_rules_commands(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "rules")
    assert code == 0
    assert out.splitlines()[4].split() == [
        "NNL901",
        "fake-softmax",
        "error",
        "safe",
        "fix",
    ]
    code, out, _ = _run(capsys, "rule", "fake-old-name")
    assert code == 0
    assert out.startswith("# NNL902: fake-old-name\n")


def test_fx_without_graph_mode_is_a_clear_error(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "nnlint.fx", None)  # makes the import fail
    code, _, err = _run(capsys, "model.py", "--fx")
    assert code == 2
    assert "graph mode is not available" in err


def test_fx_findings_are_merged_and_suppressible(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    from nnlint.findings import Finding
    from nnlint.fx.run_summary import GraphRun

    def run_graph(paths: list[Path], config: object) -> GraphRun:
        return GraphRun(
            [
                Finding("model.py", 5, 1, 5, 4, "NNL601", "graph", "graph finding"),
                Finding("model.py", 10, 1, 10, 4, "NNL601", "graph", "noqa'd"),
            ]
        )

    fake = types.ModuleType("nnlint.fx")
    fake.run_graph = run_graph  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "nnlint.fx", fake)
    (project / "model.py").write_text(
        PROJECT["model.py"].replace("# noqa: NNL901", "# noqa: NNL901, NNL601"),
        encoding="utf-8",
    )
    code, out, _ = _run(
        capsys, "model.py", "--fx", "--select", "NNL6", "--output-format", "json"
    )
    assert [(f["line"], f["code"]) for f in json.loads(out)] == [(5, "NNL601")]
    assert code == 1


def test_module_entry_point_and_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nnlint", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("nnlint ")
    done = subprocess.run(
        [sys.executable, "-m", "nnlint", "no/such/dir"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == "nnlint: error: no/such/dir: no such file or directory\n"


def test_fix_keeps_a_byte_order_mark_and_a_coding_cookie(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bom = "import torch\ny = torch.softmax(x, dim=0)  # é\n".encode("utf-8-sig")
    (project / "bom.py").write_bytes(bom)
    latin = "# -*- coding: latin-1 -*-\nimport torch\ny = torch.softmax(x)  # é\n"
    (project / "latin1.py").write_bytes(latin.encode("latin-1"))
    code, _, _ = _run(capsys, "bom.py", "latin1.py", "--fix")
    assert code == 0
    assert (project / "bom.py").read_bytes() == bom.replace(b"softmax", b"log_softmax")
    fixed = latin.replace("softmax", "log_softmax").encode("latin-1")
    assert (project / "latin1.py").read_bytes() == fixed
