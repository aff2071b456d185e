"""Generated rule docs are up to date (``NNLINT_REGEN_DOCS=1`` regenerates them)."""

from __future__ import annotations

import os
from pathlib import Path

from nnlint.cli.docsgen import (
    expected_files,
    main,
    render_index,
    render_rule,
    stale_files,
    write_docs,
)
from nnlint.rules import all_rules
from nnlint.rules.nnl003_unused_noqa import UnusedNoqa

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules"


def test_generated_docs_are_current() -> None:
    if os.environ.get("NNLINT_REGEN_DOCS"):
        write_docs(DOCS)
    stale = stale_files(DOCS)
    assert stale == [], (
        f"stale rule docs {stale}: run `python -m nnlint.cli.docsgen` "
        "or NNLINT_REGEN_DOCS=1 pytest tests/nnlint/test_docs.py"
    )


def test_rule_page_has_metadata_sections_and_examples() -> None:
    page = render_rule(UnusedNoqa)
    assert page.startswith("# NNL003: unused-noqa\n")
    assert (
        "| `NNL003` | `unused-noqa` | warning | no fix | unused suppression |" in page
    )
    for heading in (
        "## What it does",
        "## Why is this bad?",
        "## Fix safety",
        "### Flagged",
    ):
        assert heading in page
    assert "```python\nx = 1  # noqa: E501, NNL001\n```" in page


def test_index_links_every_rule() -> None:
    index = render_index(all_rules())
    for rule in all_rules():
        assert f"[{rule.CODE}]({rule.CODE}.md)" in index


def test_docsgen_writes_checks_and_removes_leftovers(tmp_path: Path) -> None:
    (tmp_path / "NNL999.md").write_text("old", encoding="utf-8")
    assert main(["--check", str(tmp_path)]) == 1
    assert main([str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(expected_files())
    assert main(["--check", str(tmp_path)]) == 0
