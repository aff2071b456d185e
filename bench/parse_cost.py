"""What the two parsing switches of nnlint save, measured side by side.

    .venv/bin/python bench/parse_cost.py [TREE] [--repeat N] [--files N]

Parses the same files (the first ``--files`` of TREE, default timm) with libcst four
ways, interleaved round by round so that load on the shared machine hits all of them
alike, and prints the median CPU seconds of each:

* ``libcst``: ``libcst.parse_module`` at the interpreter's default GC thresholds;
* ``no validation``: libcst's per-node validation switched off while the parser
  runs (``CSTNode.__post_init__`` swapped, node classes' own constructors);
* ``nnlint parse``: ``nnlint.engine.parsing.parse_module``: no validation, and the
  node classes built by constructors that store fields through their slots
  (``nnlint.engine.node_init``);
* ``fewer collections``: ``libcst.parse_module`` with the pool workers' GC settings
  (``nnlint.engine.pool._fewer_collections``);
* ``all``: what an nnlint worker does (``nnlint parse`` with the workers' GC);
* ``statement by statement``: ``nnlint parse`` of each top-level statement alone
  (``nnlint.engine.statement_scan.statement_starts``), against the file at once;
* ``nodes as dicts``: libcst's native parser with every node class of the ``libcst``
  namespace replaced by ``dict`` while it runs: the tree is a heap of dicts, so
  this is what the native side costs (tokenizer, parser, the keyword arguments of
  every node) without any Python node being built. The difference to ``nnlint
  parse`` is all that building the Python nodes still costs;
* ``docstrings blanked``: ``all``, on the files with the text inside every
  triple-quoted string statement (docstrings) removed, its line breaks kept: whether
  the parse's cost follows the characters or the tokens.
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

import libcst as cst
from libcst._nodes.base import CSTNode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "linter"))

from nnlint.engine import parsing  # noqa: E402
from nnlint.engine.parsing import parse_module  # noqa: E402
from nnlint.engine.pool import _fewer_collections  # noqa: E402
from nnlint.engine.statement_scan import statement_starts  # noqa: E402

DEFAULT_TREE = "/work/corpus/timm"
_NODE_NAMES = [
    name
    for name in dir(cst)
    if isinstance(getattr(cst, name), type) and issubclass(getattr(cst, name), CSTNode)
]


def _as_dicts(source: str) -> object:
    from libcst import native  # type: ignore[attr-defined]

    classes = {name: getattr(cst, name) for name in _NODE_NAMES}
    for name in _NODE_NAMES:
        setattr(cst, name, dict)
    try:
        return native.parse_module(source, "utf-8")
    finally:
        for name, node_class in classes.items():
            setattr(cst, name, node_class)


def _by_statement(source: str) -> object:
    starts = statement_starts(source)
    for start, end in zip(starts, [*starts[1:], len(source)], strict=True):
        try:
            parse_module(source[start:end])
        except (cst.ParserSyntaxError, ValueError):
            pass  # the scan split a statement (a column-0 line in brackets)
    return None


def _no_validation(source: str) -> object:
    CSTNode.__post_init__ = parsing._skip_validation  # type: ignore[method-assign]
    try:
        return cst.parse_module(source)
    finally:
        CSTNode.__post_init__ = parsing._VALIDATING_HOOK  # type: ignore[method-assign]


def _blank_docstrings(source: str) -> str:
    """``source`` with each triple-quoted string statement emptied but for its
    line breaks (same lines, same tokens, fewer characters)."""
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def offset(line: int, column: int) -> int:  # ``ast`` columns count UTF-8 bytes
        return offsets[line - 1] + len(lines[line - 1].encode()[:column].decode())

    spans = sorted(
        (
            offset(node.lineno, node.col_offset),
            offset(node.end_lineno, node.end_col_offset),
        )
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        and node.end_lineno is not None
        and node.end_col_offset is not None
    )
    pieces, position = [], 0
    for start, end in spans:
        quote = source[start : start + 3]
        if quote in ('"""', "'''"):
            inner = source[start + 3 : end - 3]
            pieces += [source[position:start], quote, "\n" * inner.count("\n"), quote]
            position = end
    return "".join([*pieces, source[position:]])


def _cpu(parse: Callable[[str], object], sources: list[str]) -> float:
    start = time.process_time()
    for source in sources:
        parse(source)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tree", nargs="?", default=DEFAULT_TREE)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--files", type=int, default=80)
    args = parser.parse_args()
    paths = sorted(Path(args.tree).rglob("*.py"))[: args.files]
    sources = [path.read_text(encoding="utf-8") for path in paths]
    lines = sum(source.count("\n") for source in sources)
    default_thresholds = gc.get_threshold()
    ways: dict[str, tuple[Callable[[str], object], bool]] = {
        "libcst": (cst.parse_module, False),
        "no validation": (_no_validation, False),
        "nnlint parse": (parse_module, False),
        "fewer collections": (cst.parse_module, True),
        "all": (parse_module, True),
        "statement by statement": (_by_statement, True),
        "nodes as dicts": (_as_dicts, True),
        "docstrings blanked": (parse_module, True),
    }
    blanked = [_blank_docstrings(source) for source in sources]
    characters = (sum(map(len, sources)), sum(map(len, blanked)))
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.repeat):
        for name, (parse, fewer) in ways.items():
            if fewer:
                _fewer_collections()
            inputs = blanked if name == "docstrings blanked" else sources
            times[name].append(_cpu(parse, inputs))
            gc.unfreeze()
            gc.set_threshold(*default_thresholds)
    base = statistics.median(times["libcst"])
    print(f"{len(sources)} files, {lines} lines, median of {args.repeat} rounds")
    print(f"characters {characters[0]}, with docstrings blanked {characters[1]}")
    print("way | CPU s | vs libcst")
    print("---|---|---")
    for name, values in times.items():
        value = statistics.median(values)
        print(f"{name} | {value:.2f} | {value / base:.2f}x")


if __name__ == "__main__":
    main()
