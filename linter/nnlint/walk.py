"""Fast traversal of libcst trees.

``CSTNode.visit`` and ``CSTNode.children`` rebuild every node they pass through
(``_visit_and_replace_children``), which makes a plain walk cost more than parsing.
Here children are read straight from the dataclass fields, and whitespace, comments
and punctuation (which no rule may look at) are skipped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import libcst as cst

# Node types that carry only formatting: never visited, never descended into.
SKIPPED: tuple[type[cst.CSTNode], ...] = (
    cst.BaseParenthesizableWhitespace,
    cst.TrailingWhitespace,
    cst.EmptyLine,
    cst.Newline,
    cst.Comment,
    cst.Comma,
    cst.Dot,
    cst.Colon,
    cst.Semicolon,
    cst.AssignEqual,
    cst.LeftParen,
    cst.RightParen,
    cst.LeftSquareBracket,
    cst.RightSquareBracket,
    cst.LeftCurlyBrace,
    cst.RightCurlyBrace,
)

_FIELDS: dict[type, tuple[str, ...]] = {}
# Per concrete type: is it a node worth visiting? (``isinstance`` against libcst's
# abstract base classes goes through ``abc`` and dominated the walk's cost.)
_WANTED: dict[type, bool] = {}


def _field_names(kind: type) -> tuple[str, ...]:
    names = _FIELDS.get(kind)
    if names is None:
        names = tuple(
            field.name
            for field in dataclasses.fields(kind)
            if not field.name.startswith("whitespace")
        )
        _FIELDS[kind] = names
    return names


def _wanted(kind: type) -> bool:
    wanted = _WANTED.get(kind)
    if wanted is None:
        wanted = issubclass(kind, cst.CSTNode) and not issubclass(kind, SKIPPED)
        _WANTED[kind] = wanted
    return wanted


def iter_children(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Direct children of ``node`` in field order (source order for nearly all nodes),
    without whitespace, comments and punctuation."""
    for name in _field_names(type(node)):
        value = getattr(node, name)
        kind = type(value)
        if kind is list or kind is tuple:
            for item in value:
                if _wanted(type(item)):
                    yield item
        elif _wanted(kind):
            yield value


def walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """``node`` and every node below it, depth first (iterative: deep trees are ok)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        children = list(iter_children(current))
        children.reverse()
        stack.extend(children)
