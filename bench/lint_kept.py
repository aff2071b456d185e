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

``--members`` also splits the methods of the classes in the parsed text (what pruning
inside kept classes could leave out): the model methods (``__init__``, ``forward*``
and the methods they name as ``self.<name>``, transitively), and the others by
whether they assign a ``self`` attribute, only read one, or neither (the class
analyses read every method's ``self`` attributes and calls).
"""

from __future__ import annotations

import argparse
import ast
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
    return len(_parsed_text(text, rules))


def _parsed_text(text: str, rules: Sequence[type[Rule]]) -> str:
    """The text the engine parses with ``rules`` ("" when nothing)."""
    active = [rule for rule in rules if _mentions(text, rule)]
    if not active or any(map(_whole, active)):
        return text if active else ""
    pruned, _ = select(text, [rule.NEEDS for rule in active if rule.NEEDS])
    return "" if pruned is None else pruned.text


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


def _self_attributes(function: ast.AST) -> tuple[set[str], bool]:
    """The attributes of ``self`` a function names, and whether it assigns one."""
    named, stores = set(), False
    for node in ast.walk(function):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
        ):
            named.add(node.attr)
            stores |= isinstance(node.ctx, ast.Store)
    return named, stores


def members(text: str) -> Counter[str]:
    """Characters of the methods of every class in ``text``, by kind."""
    lines = text.splitlines(keepends=True)
    sizes: Counter[str] = Counter()
    for owner in ast.walk(ast.parse(text)):
        if not isinstance(owner, ast.ClassDef):
            continue
        methods = {
            node.name: node
            for node in owner.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        facts = {name: _self_attributes(node) for name, node in methods.items()}
        model = {n for n in methods if n == "__init__" or n.startswith("forward")}
        frontier = set(model)
        while frontier:
            frontier = {m for n in frontier for m in facts[n][0] & methods.keys()}
            frontier -= model
            model |= frontier
        for name, node in methods.items():
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            size = sum(map(len, lines[first - 1 : node.end_lineno]))
            named, stores = facts[name]
            kind = (
                "model methods"
                if name in model
                else "other, assigns self.x"
                if stores
                else "other, reads self.x"
                if named
                else "other, no self.x"
            )
            sizes[kind] += size
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="*", default=["/work/corpus/timm"])
    parser.add_argument("--without", action="append", default=[])
    parser.add_argument("--members", action="store_true")
    args = parser.parse_args()
    rules = [rule for rule in all_rules() if not is_engine_rule(rule)]
    groups = {rule.CODE: {rule.CODE} for rule in rules}
    groups.update({group: set(group.split(",")) for group in args.without})
    paths = sorted(p for tree in args.trees for p in Path(tree).rglob("*.py"))
    total, kept, without, methods = 0, Counter[str](), Counter[str](), Counter[str]()
    for path in paths:
        text = path.read_bytes().decode("utf-8", "replace")
        total += len(text)
        if parse_guard.check(text) is not None:
            continue
        kept += split(text, rules)
        if args.members:
            methods += members(_parsed_text(text, rules))
        for group, codes in groups.items():
            without[group] += parsed(text, [r for r in rules if r.CODE not in codes])
    share = sum(kept.values()) / total
    print(f"{len(paths)} files, {total} characters; parsed {share:.1%}")
    for reason, size in kept.most_common():
        print(f"  {reason} | {size / total:.1%}")
    for kind, size in methods.most_common():
        print(f"  methods of parsed classes: {kind} | {size / total:.1%}")
    print("left out | parsed")
    print("---|---")
    for group, size in sorted(without.items(), key=lambda item: item[1]):
        print(f"{group} | {size / total:.1%}")


if __name__ == "__main__":
    main()
