"""Reading a method's syntax: its ``self`` parameter, ``self.X`` attributes and
assignments, and the simple statements of its blocks.

Block fields are read directly rather than through a generic walk: these run on every
method of every class the class model sees, so they stay cheap.
"""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst


def self_name(function: cst.FunctionDef) -> str | None:
    params = function.params.params
    return params[0].name.value if params else None


def self_attr(expr: cst.BaseExpression, owner: str | None = "self") -> str | None:
    """``X`` for ``self.X``."""
    if (
        type(expr) is cst.Attribute
        and type(expr.value) is cst.Name
        and expr.value.value == owner
    ):
        return expr.attr.value
    return None


def self_assignments(
    function: cst.FunctionDef,
) -> Iterator[tuple[str, cst.BaseExpression]]:
    """``(X, value)`` for every ``self.X = value`` in ``function`` (not nested defs)."""
    owner = self_name(function)
    for statement in simple_statements(function.body):
        for small in statement.body:
            if type(small) is cst.Assign:
                targets = [t.target for t in small.targets]
            elif type(small) is cst.AnnAssign and small.value is not None:
                targets = [small.target]
            else:
                continue
            for target in targets:
                attr = self_attr(target, owner)
                if attr is not None:
                    yield attr, small.value  # type: ignore[misc]


def simple_statements(
    node: cst.CSTNode,
) -> Iterator[cst.SimpleStatementLine | cst.SimpleStatementSuite]:
    """Simple statement lines in the block ``node`` and nested blocks, not in nested
    defs (block fields are read directly: much cheaper than a generic walk)."""
    if type(node) is cst.SimpleStatementLine or type(node) is cst.SimpleStatementSuite:
        yield node
        return
    if type(node) is cst.FunctionDef or type(node) is cst.ClassDef:
        return
    body = getattr(node, "body", ())
    for child in body if isinstance(body, list | tuple) else (body,):
        yield from simple_statements(child)
    for name in ("orelse", "finalbody"):
        block = getattr(node, name, None)
        if block is not None:
            yield from simple_statements(block)
    for handler in getattr(node, "handlers", ()):
        yield from simple_statements(handler)
