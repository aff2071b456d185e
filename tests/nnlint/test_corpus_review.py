"""bench/corpus.py review keys: a verdict survives unrelated edits and line shifts,
a changed finding line asks for a new verdict, and the precision table counts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

# `bench/` is a top-level directory of the repository, not an installed package.
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import corpus  # noqa: E402


def _finding(line: int, code: str = "NNL403") -> dict[str, object]:
    return {
        "path": "p/m.py",
        "line": line,
        "code": code,
        "severity": "warning",
        "message": "bias before BatchNorm",
    }


def _key(root: Path, text: str, line: int) -> str:
    (root / "p").mkdir(exist_ok=True)
    (root / "p" / "m.py").write_text(text)
    return corpus.line_key(root, _finding(line))


def test_key_ignores_whitespace_and_line_number(tmp_path: Path) -> None:
    before = _key(tmp_path, "a = 1\nx = nn.Conv2d(3, 8, 3)\n", 2)
    after = _key(tmp_path, "# new\n\na = 1\nx = nn.Conv2d(3,8,  3)\n", 4)
    changed = _key(tmp_path, "a = 1\nx = nn.Conv2d(3, 16, 3)\n", 2)
    assert before == after
    assert changed != before


def test_review_lists_only_findings_without_a_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key = _key(tmp_path, "x = nn.Conv2d(3, 8, 3)\ny = nn.Linear(2, 2)\n", 1)
    findings = [_finding(1), _finding(2), {**_finding(2), "severity": "info"}]
    (tmp_path / "findings.json").write_text(json.dumps(findings))
    tsv = tmp_path / "review.tsv"
    tsv.write_text(
        "path\tline\tcode\tkey\tverdict\treason\n"
        f"p/m.py\t1\tNNL403\t{key}\ttrue\tredundant bias\n"
    )
    monkeypatch.setattr(corpus, "REVIEW_TSV", tsv)
    assert corpus.review(tmp_path, table=True) == 1
    out = capsys.readouterr()
    new = [line for line in out.out.splitlines() if line.startswith("p/m.py")]
    assert [row.split("\t")[1] for row in new] == ["2"]
    assert "| NNL403 | 1 | 1 | 0 | 0 | 100.0% |" in out.out
    assert "2 error/warning findings, 1 without a verdict" in out.err


def test_precision_table_counts_per_rule_and_overall() -> None:
    table = corpus.precision_table(
        [("NNL401", "false"), ("NNL401", "true"), ("NNL202", "defensible")]
    )
    assert "| NNL202 | 1 | 0 | 1 | 0 | 100.0% |" in table
    assert "| NNL401 | 2 | 1 | 0 | 1 | 50.0% |" in table
    assert "| **all** | 3 | 1 | 1 | 1 | 66.7% |" in table


def test_bad_verdict_is_refused(tmp_path: Path) -> None:
    tsv = tmp_path / "review.tsv"
    tsv.write_text("header\np/m.py\t1\tNNL403\tabc\tmaybe\twhy\n")
    with pytest.raises(SystemExit, match="bad verdict 'maybe'"):
        corpus.load_review(tsv)
