"""Why the pre-filter keeps what it keeps, and what dropping a rule would save.

    .venv/bin/python bench/lint_kept.py [TREE ...] [--without CODES] ...

For every ``.py`` file of the trees (default timm), with the default rules, splits the
text the engine parses into: the statements some declaration picked (after its
screen), those kept only as some rule's evidence, those kept only as a local class a
picked statement names, whole files (a ``scope="file"`` rule's words occur) and the
imports. Then the share still parsed with each rule left out (as if it decided
without libcst), and with each ``--without`` group (comma-separated codes, the option
repeatable) left out together. Shares of the trees' characters; they do not depend on
load. Slow (every selection is redone per rule): ~1.5 min on timm.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "linter"))

from nnlint.engine import parse_guard  # noqa: E402
from nnlint.engine.lint_source import _mentions, _whole  # noqa: E402
from nnlint.engine.prefilter import (  # noqa: E402
    _imports,
    _referenced_classes,
    choose,
    select,
)
from nnlint.rules import Rule, all_rules  # noqa: E402
from nnlint.rules.engine_rules import is_engine_rule  # noqa: E402


def parsed(text: str, rules: Sequence[type[Rule]]) -> int:
    """Characters of ``text`` the engine parses with ``rules``."""
    active = [rule for rule in rules if _mentions(text, rule)]
    if not active:
        return 0
    if any(map(_whole, active)):
        return len(text)
    pruned, _ = select(text, [rule.NEEDS for rule in active if rule.NEEDS])
    return 0 if pruned is None else len(pruned.text)


def split(text: str, rules: Sequence[type[Rule]]) -> Counter[str]:
    """The parsed characters of ``text`` by why they are kept (as ``select``)."""
    kept: Counter[str] = Counter()
    active = [rule for rule in rules if _mentions(text, rule)]
    if not active:
        return kept
    if any(map(_whole, active)):
        kept["whole file (a scope='file' rule)"] = len(text)
        return kept
    chosen = choose(text, [rule.NEEDS for rule in active if rule.NEEDS])
    if not chosen.picked | chosen.evidence:
        return kept
    starts, ends = chosen.statements.starts, chosen.statements.ends
    named = _referenced_classes(text, starts, ends, chosen.seeds)
    for index, (start, end) in enumerate(zip(starts, ends, strict=True)):
        if index in chosen.picked:
            kept["picked (after screens)"] += end - start
        elif index in chosen.evidence:
            kept["evidence only"] += end - start
        elif index in named:
            kept["named local class only"] += end - start
        elif _imports(text[start:end]):
            kept["imports"] += end - start
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="*", default=["/work/corpus/timm"])
    parser.add_argument("--without", action="append", default=[])
    args = parser.parse_args()
    rules = [rule for rule in all_rules() if not is_engine_rule(rule)]
    groups = {rule.CODE: {rule.CODE} for rule in rules}
    groups.update({group: set(group.split(",")) for group in args.without})
    paths = sorted(p for tree in args.trees for p in Path(tree).rglob("*.py"))
    total, kept, without = 0, Counter[str](), Counter[str]()
    for path in paths:
        text = path.read_bytes().decode("utf-8", "replace")
        total += len(text)
        if parse_guard.check(text) is not None:
            continue
        kept += split(text, rules)
        for group, codes in groups.items():
            without[group] += parsed(text, [r for r in rules if r.CODE not in codes])
    share = sum(kept.values()) / total
    print(f"{len(paths)} files, {total} characters; parsed {share:.1%}")
    for reason, size in kept.most_common():
        print(f"  {reason} | {size / total:.1%}")
    print("left out | parsed")
    print("---|---")
    for group, size in sorted(without.items(), key=lambda item: item[1]):
        print(f"{group} | {size / total:.1%}")


if __name__ == "__main__":
    main()
