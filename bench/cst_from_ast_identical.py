"""Does the first pass's tree equal libcst's, on every file of every corpus?

    .venv/bin/python -m bench.cst_from_ast_identical [TREE ...] [--examples N]

For each ``.py`` file (default: every project of every corpus set) that the parse
guard admits and libcst parses, builds the tree of
:func:`nnlint.engine.cst_from_ast.build` and compares the two node by node over what
the rules' walk reads (:func:`nnlint.analysis.walk.iter_children`: node types, in
order) and every field of each node that is neither formatting nor a child (leaf
values: ``Name.value``, ``Integer.value``, ``Arg.star``, ...). Prints each kind of
mismatch with its count and an example, and each reason the converter gave up
(None: the engine then uses the real parser) with its count. Goal: no mismatch.
"""

from __future__ import annotations

import argparse
import glob
import sys
from collections import Counter
from pathlib import Path

import libcst as cst

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "linter"))

from nnlint.engine import parse_guard  # noqa: E402
from nnlint.engine.cst_from_ast import build  # noqa: E402
from nnlint.engine.cst_from_ast_check import differences  # noqa: E402
from nnlint.engine.cst_from_ast_text import Unsupported  # noqa: E402
from nnlint.engine.parsing import parse_module  # noqa: E402

CORPORA = (
    "/work/corpus/*", "/work/corpus-wide/*", "/work/corpus-unseen/*",
    "/work/corpus-fresh/*", "/work/corpus-fourth/*", "/work/corpus-fifth/*",
    "/work/corpus-sixth/*",
)  # fmt: skip


def _code(node: cst.CSTNode) -> str:
    text = cst.Module([]).code_for_node(node)
    return " ".join(text.split())[:100]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("trees", nargs="*", default=list(CORPORA))
    parser.add_argument("--examples", type=int, default=1)
    options = parser.parse_args()
    roots = sorted(path for pattern in options.trees for path in glob.glob(pattern))
    paths = sorted(p for root in roots for p in Path(root).rglob("*.py"))
    kinds: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    gave_up: Counter[str] = Counter()
    compared = 0
    for path in paths:
        text = path.read_bytes().decode("utf-8", "replace")
        if parse_guard.check(text) is not None:
            continue
        try:
            built = build(text)
        except (SyntaxError, ValueError, Unsupported, RecursionError) as error:
            gave_up[f"{type(error).__name__}: {str(error)[:60]}"] += 1
            continue
        try:
            real = parse_module(text)
        except Exception:  # noqa: BLE001 - the first pass could hide an NNL001
            kinds["libcst refuses a text the first pass builds"] += 1
            examples.setdefault("libcst refuses a text the first pass builds", [])
            examples["libcst refuses a text the first pass builds"].append(str(path))
            continue
        compared += 1
        for kind, node in differences(real, built):
            kinds[kind] += 1
            examples.setdefault(kind, [])
            if len(examples[kind]) < options.examples:
                examples[kind].append(f"{path}: {_code(node)}")
    print(f"{len(paths)} files, {compared} compared, {sum(gave_up.values())} given up")
    print(f"mismatches: {sum(kinds.values())}")
    for kind, count in kinds.most_common():
        print(f"  {count:6d}  {kind}")
        for example in examples[kind]:
            print(f"          {example}")
    print("given up (the real parser is used):")
    for reason, count in gave_up.most_common():
        print(f"  {count:6d}  {reason}")


if __name__ == "__main__":
    main()
