"""Fast traversal of libcst trees.

``CSTNode.visit`` and ``CSTNode.children`` rebuild every node they pass through
(``_visit_and_replace_children``), which makes a plain walk cost more than parsing.
Here children are read straight from the dataclass fields, and whitespace, comments
and punctuation (which no rule may look at) are skipped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from functools import cache

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

# Fields that only ever hold formatting (parentheses, commas, blank lines, ...).
_FORMATTING_FIELDS = frozenset(
    {
        "lpar", "rpar", "comma", "semicolon", "leading_lines", "lines_after_decorators",
        "header", "footer", "trailing_whitespace", "newline", "equal", "colon", "dot",
        "lbracket", "rbracket", "lbrace", "rbrace",
    }
)  # fmt: skip
_TEXT_TYPES = (str, bool, int, "str", "bool", "int")
_FIELDS: dict[type, tuple[str, ...]] = {}
# Per concrete type: is it a node worth visiting? (``isinstance`` against libcst's
# abstract base classes goes through ``abc`` and dominated the walk's cost.)
_WANTED: dict[type, bool] = {}


def _field_names(kind: type) -> tuple[str, ...]:
    # Fields declared as plain text (``Name.value``, ``Integer.value``) never hold a
    # node: leaving them out makes a leaf's children an empty loop.
    names = tuple(
        field.name
        for field in dataclasses.fields(kind)
        if not field.name.startswith("whitespace")
        and field.name not in _FORMATTING_FIELDS
        and field.type not in _TEXT_TYPES
    )
    _FIELDS[kind] = names
    return names


def _wanted(kind: type) -> bool:
    wanted = issubclass(kind, cst.CSTNode) and not issubclass(kind, SKIPPED)
    _WANTED[kind] = wanted
    return wanted


def iter_children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """Direct children of ``node`` in field order (source order for nearly all nodes),
    without whitespace, comments and punctuation. Hot: written for speed."""
    kind = type(node)
    names = _FIELDS.get(kind)
    if names is None:  # not ``or``: a leaf's tuple is empty
        names = _field_names(kind)
    wanted = _WANTED
    children = []
    for name in names:
        value = getattr(node, name)
        value_type = type(value)
        if value_type is list or value_type is tuple:
            for item in value:
                item_type = type(item)
                keep = wanted.get(item_type)
                if keep is None:
                    keep = _wanted(item_type)
                if keep:
                    children.append(item)
        else:
            keep = wanted.get(value_type)
            if keep is None:
                keep = _wanted(value_type)
            if keep:
                children.append(value)
    return children


def walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """``node`` and every node below it, depth first (iterative: deep trees are ok)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        children = iter_children(current)
        stack.extend(reversed(children))


@cache
def subtypes(kind: type) -> frozenset[type]:
    """``kind`` and every class derived from it: a libcst node is an instance of
    ``kind`` exactly when its type is in the set (libcst registers no virtual
    subclasses). A set lookup instead of ``isinstance``, which goes through ``abc``
    for libcst's classes and is slow where a walk asks it of every node."""
    found: set[type] = set()
    pending = [kind]
    while pending:
        current = pending.pop()
        if current not in found:
            found.add(current)
            pending.extend(current.__subclasses__())
    return frozenset(found)


def child_expressions(node: cst.CSTNode) -> Iterator[cst.BaseExpression]:
    """The expressions directly inside ``node``, looking through non-expression
    wrappers (arguments, subscript elements...) but not into statement suites."""
    expressions, suites = subtypes(cst.BaseExpression), subtypes(cst.BaseSuite)
    for child in iter_children(node):
        kind = type(child)
        if kind in expressions:
            yield child  # type: ignore[misc]
        elif kind not in suites:
            yield from child_expressions(child)


def warm_up() -> None:
    """Fill the per-type tables for every libcst node class now: a worker process
    forked afterwards starts with them instead of building its own."""
    pending: list[type] = [cst.CSTNode]
    while pending:
        kind = pending.pop()
        pending.extend(kind.__subclasses__())
        if kind not in _FIELDS and dataclasses.is_dataclass(kind):
            _field_names(kind)
        if kind not in _WANTED:
            _wanted(kind)
