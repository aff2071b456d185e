"""Pruned findings equal whole-file findings: the pre-filter loses and adds nothing.

    .venv/bin/python bench/prefilter_equivalence.py --root DIR [--root DIR ...]
        [--jobs N]

For every ``.py`` file under each ``DIR``, lints twice with every source rule:

* **pruned**: what ``nnlint`` does (rules whose declared words do not occur are
  skipped, and only the statements their ``NEEDS`` pick are parsed);
* **whole**: the file parsed whole and every rule run on it, with no pre-filter at
  all (not even the words), so a declaration that is not a necessary condition of
  its rule shows up as a difference.

Prints files and findings compared and every difference; exits 1 when there is one.
Files that do not parse, or that the parse guard refuses, are linted the same way in
both modes and are compared too.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "linter"))

import libcst as cst  # noqa: E402

from nnlint.engine import parse_guard  # noqa: E402
from nnlint.engine.lint_source import check_source, lint_module  # noqa: E402
from nnlint.engine.parsing import parse_module  # noqa: E402
from nnlint.rules import Rule, all_rules  # noqa: E402
from nnlint.rules.engine_rules import is_engine_rule  # noqa: E402

# One finding as compared: everything the user sees (the fix without its nodes).
Key = tuple[object, ...]


def source_rules() -> list[type[Rule]]:
    return [rule for rule in all_rules() if not is_engine_rule(rule)]


def _keys(findings: Sequence[object]) -> list[Key]:
    return sorted(tuple(sorted(f.to_dict().items())) for f in findings)  # type: ignore[attr-defined]


def pruned_findings(text: str, path: str, rules: Sequence[type[Rule]]) -> list[Key]:
    return _keys(check_source(text, path, rules, prune=True)[0])


def whole_findings(text: str, path: str, rules: Sequence[type[Rule]]) -> list[Key]:
    """Every rule on the whole tree; a refused or unparsable file is handled like
    the pruned path handles it (one NNL004 / NNL001)."""
    if parse_guard.check(text) is None:
        try:
            module = parse_module(text)
        except (cst.ParserSyntaxError, ValueError):
            pass
        else:
            return _keys(lint_module(module, path, rules))
    return _keys(check_source(text, path, rules, prune=False)[0])


def compare(path: Path) -> tuple[int, list[str]]:
    """(findings compared, differences) for one file."""
    text = path.read_bytes().decode("utf-8", "replace")
    rules = source_rules()
    pruned = pruned_findings(text, str(path), rules)
    whole = whole_findings(text, str(path), rules)
    if pruned == whole:
        return len(whole), []
    lost = [f"lost  {path}: {dict(k)}" for k in whole if k not in pruned]
    added = [f"added {path}: {dict(k)}" for k in pruned if k not in whole]
    return max(len(whole), len(pruned)), lost + added


def python_files(roots: Sequence[Path]) -> Iterator[Path]:
    for root in roots:
        yield from sorted(p for p in root.rglob("*.py") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", action="append", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=2)
    options = parser.parse_args(argv)
    files = list(python_files(options.root))
    compared = 0
    differences: list[str] = []
    with ProcessPoolExecutor(max_workers=max(1, options.jobs)) as pool:
        for count, diffs in pool.map(compare, files, chunksize=8):
            compared += count
            differences += diffs
    for line in differences:
        print(line)
    roots = ", ".join(map(str, options.root))
    print(
        f"{roots}: {len(files)} files, {compared} findings compared, "
        f"{len(differences)} differences"
    )
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
