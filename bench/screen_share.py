"""How much text each rule's pre-filter keeps, without and with its structural screen.

    .venv/bin/python bench/screen_share.py [--rules CODES] [--check] [--jobs N] TREE...

For every rule (or the comma-separated ``--rules``) and every ``.py`` file under the
trees, the share of the text its ``NEEDS`` declaration picks on its own (the
statements its words/pattern/scope hit, their evidence and the local classes they
name; imports not counted), then the same with ``NEEDS.screen`` applied to the hit
statements the way :func:`nnlint.engine.prefilter.select` applies it (each parsed
alone with :func:`ast.parse`; one that does not parse is kept). Also the union, what
the engine parses with every rule whose words occur (imports included; the whole
file when a scope "file" rule is among them), without and with the screens.

``--check`` also lints every file whole (no pre-filter) with every source rule and
verifies that each finding of a rule with a screen lies in a top-level statement the
screen passes (a screen must be a necessary condition), and that each screened rule
run *alone* on its pruned text finds what it finds on the whole file (alone, so that
statements other rules keep cannot hide evidence the screen dropped); prints every
violation and exits 1 when there is one.
"""

from __future__ import annotations

import argparse
import ast
import bisect
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "linter"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.prefilter_equivalence import python_files, source_rules  # noqa: E402
from nnlint.engine import parse_guard  # noqa: E402
from nnlint.engine.lint_source import check_source, lint_module  # noqa: E402
from nnlint.engine.parsing import parse_module  # noqa: E402
from nnlint.engine.prefilter import (  # noqa: E402
    _referenced_classes,
    _Statements,
    select,
)
from nnlint.findings import Finding  # noqa: E402
from nnlint.rules import Rule  # noqa: E402
from nnlint.rules.needs import Needs  # noqa: E402

Screen = Callable[[ast.stmt], bool]


def screen_of(rule: type[Rule]) -> Screen | None:
    return getattr(rule.NEEDS, "screen", None)


def picked(statements: _Statements, needs: Needs, screen: Screen | None) -> set[int]:
    """The statements one declaration keeps (hits, evidence, named local classes),
    as :func:`nnlint.engine.prefilter.select` picks them."""
    found = statements.hit_by(needs)
    if found and screen is not None:
        found = statements.screened(found, screen, set())
    kept = set(found)
    if found and needs.evidence is not None:
        kept |= statements.evidence(found, needs.evidence)
    if found and needs.narrowed:
        kept |= _referenced_classes(
            statements.source, statements.starts, statements.ends, found
        )
    return kept


def _size(statements: _Statements, kept: set[int]) -> int:
    return sum(statements.ends[i] - statements.starts[i] for i in kept)


def shares(path: Path, codes: Sequence[str], without: Sequence[str]) -> Counter[str]:
    """Characters kept per (rule or "union", "before"/"after"), the union without the
    screens of the rules ``without``, and the total."""
    text = path.read_bytes().decode("utf-8", "replace")
    counts: Counter[str] = Counter(total=len(text))
    rules = [rule for rule in source_rules() if rule.NEEDS is not None]
    if parse_guard.check(text) is not None:
        return counts
    statements = _Statements(text)
    active = [rule for rule in rules if any(word in text for word in rule.NEEDS.words)]
    for rule in active:
        needs = rule.NEEDS
        if rule.CODE not in codes or needs.scope == "file":
            continue
        before = picked(statements, replace(needs, screen=None), None)
        screen = screen_of(rule)
        after = before if screen is None else picked(statements, needs, screen)
        counts[f"{rule.CODE} before"] += _size(statements, before)
        counts[f"{rule.CODE} after"] += _size(statements, after)
    declared = [r.NEEDS for r in active if r.NEEDS is not None]
    unscreened = [replace(needs, screen=None) for needs in declared]
    counts["union before"] += _parsed(text, unscreened)
    counts["union after"] += _parsed(text, declared)
    if without:
        partial = [
            replace(r.NEEDS, screen=None) if r.CODE in without else r.NEEDS
            for r in active
            if r.NEEDS is not None
        ]
        counts["union without"] += _parsed(text, partial)
    return counts


def _parsed(text: str, declarations: list[Needs]) -> int:
    """Characters the engine parses for these declarations (imports included)."""
    if not declarations:
        return 0
    if any(needs.scope == "file" for needs in declarations):
        return len(text)
    pruned = select(text, declarations)[0]
    return 0 if pruned is None else len(pruned.text)


def violations(path: Path) -> list[str]:
    """Findings (whole file, no pre-filter) lying in a statement their rule's screen
    rejects."""
    text = path.read_bytes().decode("utf-8", "replace")
    rules = source_rules()
    screened = {rule.CODE: screen_of(rule) for rule in rules if screen_of(rule)}
    if not screened or parse_guard.check(text) is not None:
        return []
    try:
        findings = lint_module(parse_module(text), str(path), rules)
    except Exception:  # noqa: BLE001 - unparsable files have no rule findings
        return []
    outside = [
        f"{path}:{finding.line}: {finding.code} in a statement its screen rejects"
        for finding in findings
        if finding.code in screened
        and not statement_passes(text, finding.line, screened[finding.code])
    ]
    return outside + alone_differences(text, str(path), findings)


def alone_differences(text: str, path: str, whole: Sequence[Finding]) -> list[str]:
    """Each screened rule, run alone on the text its declaration keeps, against its
    findings in ``whole`` (the file linted whole)."""
    differences = []
    for rule in source_rules():
        if screen_of(rule) is None:
            continue
        expected = [f for f in whole if f.code == rule.CODE]
        pruned = check_source(text, path, [rule], prune=True)[0]
        if sorted(map(_key, pruned)) != sorted(map(_key, expected)):
            differences.append(f"{path}: {rule.CODE} alone pruned differs from whole")
    return differences


def _key(finding: Finding) -> tuple[int, int, str]:
    return finding.line, finding.column, finding.message


def statement_passes(text: str, line: int, screen: Screen | None) -> bool:
    """Whether the top-level statement holding ``line`` (1-based) passes ``screen``."""
    if screen is None:
        return True
    statements = _Statements(text)
    offsets = [0]
    offsets += [i + 1 for i, char in enumerate(text) if char == "\n"]
    offset = offsets[min(line, len(offsets)) - 1]
    index = bisect.bisect_right(statements.starts, offset) - 1
    return bool(statements.screened({index}, screen, set()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="+", type=Path)
    parser.add_argument("--rules", default="")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--without", default="", help="also the union without these rules' screens"
    )
    options = parser.parse_args(argv)
    declared = [rule.CODE for rule in source_rules() if rule.NEEDS is not None]
    codes = options.rules.split(",") if options.rules else declared
    files = list(python_files(options.trees))
    totals: Counter[str] = Counter()
    problems: list[str] = []
    with ProcessPoolExecutor(max_workers=max(1, options.jobs)) as pool:
        without = [options.without.split(",") if options.without else []] * len(files)
        for counts in pool.map(
            shares, files, [codes] * len(files), without, chunksize=8
        ):
            totals.update(counts)
        if options.check:
            for found in pool.map(violations, files, chunksize=8):
                problems += found
    _print_table(totals, codes, len(files))
    if options.without:
        share = 100 * totals["union without"] / (totals["total"] or 1)
        print(f"union without the screens of {options.without}: {share:.1f}%")
    for problem in problems:
        print(problem)
    if options.check:
        print(f"necessity check: {len(problems)} findings outside their screen")
    return 1 if problems else 0


def _print_table(totals: Counter[str], codes: Sequence[str], files: int) -> None:
    total = totals["total"] or 1
    print(f"{files} files, {totals['total']:,} characters")
    print("kept share per rule alone (imports not counted; scope 'file' rules: none);")
    print("union: what the engine parses with every rule (imports included)")
    print(f"{'rule':8} {'before':>8} {'after':>8}")
    for code in [*codes, "union"]:
        before = 100 * totals[f"{code} before"] / total
        after = 100 * totals[f"{code} after"] / total
        print(f"{code:8} {before:7.1f}% {after:7.1f}%")


if __name__ == "__main__":
    sys.exit(main())
