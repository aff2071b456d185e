"""What the first pass's tree costs against libcst's parse, side by side.

    .venv/bin/python -m bench.cst_from_ast_cost [TREE ...] [--repeat N]

Takes the text each file of the trees (default timm) hands the parser in a cold run
(the pre-filter's kept text, as in ``bench/lint_stages.py``) and, interleaved round by
round, times in CPU seconds: ``nnlint.engine.parsing.parse_module`` (the real parse),
``ast.parse`` alone, and ``nnlint.engine.cst_from_ast.module_from_ast`` (``ast.parse``
and the conversion); and the parse with the rules' walk as before (libcst, rules) and
now (the first pass's tree and the rules; libcst and the rules again where they
report). Collections run between files only, as in a worker. Also counts
the texts the real parse is still needed for (the rules report on the first pass's
tree, or it could not be built).
"""

from __future__ import annotations

import argparse
import ast
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "linter"))

from nnlint.engine.cst_from_ast import module_from_ast  # noqa: E402
from nnlint.engine.lint_source import _mentions, _reports, _whole  # noqa: E402
from nnlint.engine.parsing import parse_module  # noqa: E402
from nnlint.engine.pool import _fewer_collections  # noqa: E402
from nnlint.engine.prefilter import select  # noqa: E402
from nnlint.rules import Rule, all_rules  # noqa: E402
from nnlint.rules.engine_rules import is_engine_rule  # noqa: E402


def kept_texts(trees: list[str]) -> list[tuple[str, list[type[Rule]]]]:
    """The text a cold run parses, file by file (files no rule reads left out), with
    the rules that run on it."""
    rules = [rule for rule in all_rules() if not is_engine_rule(rule)]
    texts = []
    for path in sorted(p for tree in trees for p in Path(tree).rglob("*.py")):
        text = path.read_bytes().decode("utf-8", "replace")
        active = [rule for rule in rules if _mentions(text, rule)]
        if not active:
            continue
        if not any(map(_whole, active)):
            pruned, hits = select(text, [n for r in active if (n := r.NEEDS)])
            active = [rule for rule, hit in zip(active, hits, strict=True) if hit]
            text = "" if pruned is None else pruned.text
        if text:
            texts.append((text, active))
    return texts


def _reaches_libcst(text: str, rules: list[type[Rule]]) -> bool:
    module = module_from_ast(text)
    return module is None or bool(_reports(module, "file.py", rules))


Way = Callable[[str, list[type[Rule]]], object]


def _libcst(text: str, rules: list[type[Rule]]) -> object:
    return parse_module(text)


def _ast_only(text: str, rules: list[type[Rule]]) -> object:
    return ast.parse(text)


def _first_pass(text: str, rules: list[type[Rule]]) -> object:
    return module_from_ast(text)


def _libcst_and_rules(text: str, rules: list[type[Rule]]) -> object:
    return _reports(parse_module(text), "file.py", rules)


def _two_passes(text: str, rules: list[type[Rule]]) -> object:
    """What the engine does now: the real parse and rules only where needed."""
    if _reaches_libcst(text, rules):
        return _libcst_and_rules(text, rules)
    return None


def _timed(way: Way, kept: list[tuple[str, list[type[Rule]]]]) -> float:
    spent = 0.0
    for text, rules in kept:
        start = time.process_time()
        try:
            result = way(text, rules)
        except Exception:  # noqa: BLE001 - a file libcst refuses costs the same in both
            result = None
        spent += time.process_time() - start
        del result
        gc.collect(0)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("trees", nargs="*", default=["/work/corpus/timm"])
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    kept = kept_texts(options.trees)
    texts = [text for text, _ in kept]
    ways: dict[str, Way] = {
        "libcst (parse_module)": _libcst,
        "ast.parse": _ast_only,
        "ast.parse + convert (module_from_ast)": _first_pass,
        "before: libcst + rules": _libcst_and_rules,
        "now: first pass + rules, libcst + rules where they report": _two_passes,
    }
    _fewer_collections()
    gc.disable()
    spent: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(options.repeat):
        for name, parse in ways.items():
            spent[name].append(_timed(parse, kept))
    built = sum(module_from_ast(text) is not None for text in texts)
    print(f"{len(texts)} texts, {sum(map(len, texts))} characters; ", end="")
    print(f"first-pass tree built for {built}; ", end="")
    print(f"the real parse needed for {sum(_reaches_libcst(*item) for item in kept)}")
    base = statistics.median(spent["libcst (parse_module)"])
    print("way | median CPU s | vs libcst")
    print("---|---|---")
    for name, seconds in spent.items():
        median = statistics.median(seconds)
        print(f"{name} | {median:.2f} | {median / base:.0%}")


if __name__ == "__main__":
    main()
