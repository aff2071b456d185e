"""Where a tree of :mod:`nnlint.engine.cst_from_ast` differs from libcst's, over what
rules read: node types in the order of the rules' walk
(:func:`nnlint.analysis.walk.iter_children`), and each node's fields that are
neither formatting nor children (``Name.value``, ``Integer.value``, ``Arg.star``...).

Used by ``bench/cst_from_ast_identical.py`` (every corpus file) and the tests.
"""

from __future__ import annotations

import dataclasses

import libcst as cst

from nnlint.analysis.walk import _FORMATTING_FIELDS, iter_children

# Layout, not code: ``IndentedBlock.indent`` (None when a block is indented as the
# module's default) and the module's code-generation settings (how a fixed file is
# written back; the first pass never writes, positions come from the real pass).
_LAYOUT = frozenset(
    {"indent", "encoding", "default_indent", "default_newline", "has_trailing_newline"}
)
_LEAVES: dict[type, tuple[str, ...]] = {}


def _leaf_fields(kind: type) -> tuple[str, ...]:
    names = _LEAVES.get(kind)
    if names is None:
        names = tuple(
            field.name
            for field in dataclasses.fields(kind)
            if not field.name.startswith("whitespace")
            and field.name not in _FORMATTING_FIELDS
            and field.name not in _LAYOUT
        )
        _LEAVES[kind] = names
    return names


def _leaf(value: object) -> bool:
    return not isinstance(value, (cst.CSTNode, list, tuple))


def differences(real: cst.CSTNode, built: cst.CSTNode) -> list[tuple[str, cst.CSTNode]]:
    """``(kind, real node)`` for each place where the trees differ."""
    found: list[tuple[str, cst.CSTNode]] = []
    stack = [(real, built)]
    while stack:
        left, right = stack.pop()
        if type(left) is not type(right):
            found.append(
                (f"{type(left).__name__} built as {type(right).__name__}", left)
            )
            continue
        for name in _leaf_fields(type(left)):
            value, other = getattr(left, name), getattr(right, name)
            if _leaf(value) and value != other:
                found.append((f"{type(left).__name__}.{name}", left))
        mine, theirs = iter_children(left), iter_children(right)
        if len(mine) != len(theirs):
            found.append((f"children of {type(left).__name__}", left))
            continue
        stack.extend(zip(mine, theirs, strict=True))
    return found
