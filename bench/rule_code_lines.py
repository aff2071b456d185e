"""Lines of code of each source rule, without its documentation and examples.

    .venv/bin/python -m bench.rule_code_lines [--over N] [FILE ...]

A rule file carries its user documentation (the docstrings) and its VALID/INVALID
examples, often half its length; STYLE.md's "about 300 lines" is about the code
beside them. Counts every line of the file (blank lines included) except those of
a docstring and of a ``VALID``/``INVALID`` assignment, largest first; ``--over``
keeps the files above N. Default files: ``linter/nnlint/rules/nnl*.py``.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

RULES = Path(__file__).resolve().parent.parent / "linter" / "nnlint" / "rules"


def _docstring_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list) or not body:
            continue
        first = body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            if isinstance(first.value.value, str) and first.end_lineno is not None:
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def _example_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        named = {t.id for t in targets if isinstance(t, ast.Name)}
        if named & {"VALID", "INVALID"} and node.end_lineno is not None:
            lines.update(range(node.lineno, node.end_lineno + 1))
    return lines


def code_lines(path: Path) -> tuple[int, int]:
    """(all lines, code lines) of one rule file."""
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    total = len(text.splitlines())
    return total, total - len(_docstring_lines(tree) | _example_lines(tree))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--over", type=int, default=0)
    args = parser.parse_args(argv)
    files = args.files or sorted(RULES.glob("nnl*.py"))
    counted = sorted(((code_lines(f), f) for f in files), key=lambda c: -c[0][1])
    for (total, code), path in counted:
        if code > args.over:
            print(f"{code:5d} code {total:5d} lines  {path.name}")


if __name__ == "__main__":
    main()
