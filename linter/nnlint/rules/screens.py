"""Helpers for ``Needs.screen``: structural questions about one top-level statement.

A screen receives the Python ``ast`` of one top-level statement (see
:mod:`nnlint.rules.needs`) and must return True whenever its rule could report
something located in that statement. These helpers answer the questions screens
ask, over-approximating where the rule's own reading is finer: a class at any depth
(the rules visit nested classes too), methods by name prefix, calls and
``self.<attr> = value`` assignments anywhere inside a node (nested functions
included). Over-approximating keeps more text, never loses a finding.

Only the standard library is used here: screens run before any parse by libcst and
must stay torch-free and cheap (one indexed walk per statement, :func:`nodes`).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from itertools import chain
from typing import NamedTuple

Function = ast.FunctionDef | ast.AsyncFunctionDef
_SCOPES = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
# Where ``nodes`` keeps the nodes below a node: on the node itself, so they live
# exactly as long as the tree (the engine parses each statement once and asks several
# screens). Never the node itself: a node holding a list that holds the node is a
# reference cycle, and every statement's tree would then wait for the cyclic
# collector instead of being freed when the pre-filter drops it.
_MEMO = "_nnlint_nodes"


def nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Every node inside ``node``, itself included. One walk indexes a whole tree:
    the classes and functions in it then reuse their slice of that walk (several
    screens ask about the same class; ``ast.walk`` was most of their cost)."""
    below: list[ast.AST] | None = node.__dict__.get(_MEMO)
    if below is None:
        _index(node)
        below = node.__dict__[_MEMO]
    return chain((node,), below)


def _index(root: ast.AST) -> None:
    """Walk ``root`` once; store on it and on each class and function inside the
    nodes below it (a contiguous run of the walk after the node itself: a subtree's
    end is marked on the stack before its children are pushed)."""
    order: list[ast.AST] = []
    stack: list[ast.AST | tuple[ast.AST, int]] = [root]
    while stack:
        item = stack.pop()
        if type(item) is tuple:
            scope, start = item
            scope.__dict__[_MEMO] = order[start + 1 :]
            continue
        node: ast.AST = item  # type: ignore[assignment]
        if node is root or isinstance(node, _SCOPES):
            stack.append((node, len(order)))
        order.append(node)
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, list):
                stack.extend(v for v in value if isinstance(v, ast.AST))
            elif isinstance(value, ast.AST):
                stack.append(value)


def classes(statement: ast.AST) -> Iterator[ast.ClassDef]:
    """Every class definition in ``statement``, itself included, at any depth."""
    for node in nodes(statement):
        if type(node) is ast.ClassDef:
            yield node


def any_class(statement: ast.AST, test: Callable[[ast.ClassDef], bool]) -> bool:
    """Whether some class in ``statement`` passes ``test``: the usual screen of a
    rule that reports only inside the classes it visits."""
    return any(test(node) for node in classes(statement))


def methods(node: ast.ClassDef, prefix: str = "") -> list[Function]:
    """The functions defined directly in the class body whose name starts with
    ``prefix`` (every definition of a repeated name, not only the last)."""
    return [
        statement
        for statement in node.body
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef)
        and statement.name.startswith(prefix)
    ]


def forward_methods(node: ast.ClassDef) -> list[Function]:
    """The ``forward*`` methods, the ones the forward analyses walk."""
    return methods(node, "forward")


def calls(node: ast.AST) -> Iterator[ast.Call]:
    """Every call inside ``node``, nested functions and lambdas included."""
    for child in nodes(node):
        if type(child) is ast.Call:
            yield child


def call_name(call: ast.Call) -> str | None:
    """The last name of the called expression: ``relu`` for ``F.relu(x)`` and for
    ``relu(x)``; None for anything else (``layers[0](x)``)."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def attribute_assignments(node: ast.AST) -> Iterator[tuple[str, ast.expr]]:
    """``(attr, value)`` for every ``<name>.<attr> = value`` (also annotated, and
    each target of a chained assignment) inside ``node``. The receiver may be any
    name: a method's first parameter is not always spelled ``self``."""
    for child in nodes(node):
        if isinstance(child, ast.Assign):
            targets, value = child.targets, child.value
        elif isinstance(child, ast.AnnAssign) and child.value is not None:
            targets, value = [child.target], child.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                yield target.attr, value


def passes_true(node: ast.AST, keyword: str, positions: int) -> bool:
    """Whether some call inside ``node`` is passed the literal ``True`` as argument
    ``keyword`` or among its first ``positions`` positional arguments
    (``nn.ReLU(True)``, ``nn.LeakyReLU(0.1, True)``, ``F.relu(x, inplace=True)``)."""
    for call in calls(node):
        values = [k.value for k in call.keywords if k.arg == keyword]
        values += call.args[:positions]
        if any(isinstance(v, ast.Constant) and v.value is True for v in values):
            return True
    return False


def holds(node: ast.AST, *kinds: type[ast.AST]) -> bool:
    """Whether a node of one of ``kinds`` occurs inside ``node``."""
    return any(isinstance(child, kinds) for child in nodes(node))


def has_true(node: ast.AST) -> bool:
    """Whether the literal ``True`` occurs inside ``node`` (``inplace=True``)."""
    return any(
        isinstance(child, ast.Constant) and child.value is True
        for child in ast.walk(node)
    )


def called_names(node: ast.AST) -> frozenset[str]:
    """The last names of every call inside ``node`` (see :func:`call_name`)."""
    return summary(node).called


def identifiers(node: ast.AST) -> frozenset[str]:
    """Every identifier spelled inside ``node``, bare or after a dot: ``nn`` and
    ``Dropout`` for ``nn.Dropout``. Wider than :func:`called_names`: it also sees a
    class handed over uncalled (``act_layer=nn.Dropout``)."""
    return summary(node).names


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    """The value of keyword argument ``name`` of ``call``, if given."""
    return next((k.value for k in call.keywords if k.arg == name), None)


def is_literal(node: ast.expr | None, value: object) -> bool:
    """Whether ``node`` is the literal ``value`` (``None``, ``False``, ``0``)."""
    return isinstance(node, ast.Constant) and node.value is value


def starred(call: ast.Call) -> bool:
    """Whether ``call`` passes ``*args`` or ``**kwargs`` (its arguments are unknown)."""
    return any(isinstance(a, ast.Starred) for a in call.args) or any(
        k.arg is None for k in call.keywords
    )


def adds(node: ast.AST) -> bool:
    """Whether an addition (``a + b`` or ``a += b``) occurs inside ``node``."""
    return ast.Add in summary(node).operators


class Summary(NamedTuple):
    """What several screens ask about one node, gathered in one pass over it."""

    called: frozenset[str]  # last names of the calls (see :func:`call_name`)
    names: frozenset[str]  # identifiers, bare or after a dot
    operators: frozenset[type[ast.operator]]  # of ``a + b`` and ``a += b`` forms


_SUMMARY = "_nnlint_summary"


def summary(node: ast.AST) -> Summary:
    """The :class:`Summary` of ``node``, computed once and kept on it. Twelve screens
    each looping over a statement's nodes cost more than the libcst parse they
    saved on timm; one pass, then set lookups, does not."""
    found: Summary | None = node.__dict__.get(_SUMMARY)
    if found is not None:
        return found
    called: set[str] = set()
    names: set[str] = set()
    operators: set[type[ast.operator]] = set()
    for child in nodes(node):
        kind = type(child)
        if kind is ast.Name:
            names.add(child.id)  # type: ignore[attr-defined]
        elif kind is ast.Attribute:
            names.add(child.attr)  # type: ignore[attr-defined]
        elif kind is ast.Call:
            func = child.func  # type: ignore[attr-defined]
            if type(func) is ast.Name:
                called.add(func.id)
            elif type(func) is ast.Attribute:
                called.add(func.attr)
        elif kind is ast.BinOp or kind is ast.AugAssign:
            operators.add(type(child.op))  # type: ignore[attr-defined]
    found = Summary(frozenset(called), frozenset(names), frozenset(operators))
    node.__dict__[_SUMMARY] = found
    return found
