"""Expressions of the loss-wiring walk: the value of each expression.

Names read the environment (then the module globals), ``self.<attr>`` the class's table,
tuples/lists/dicts become :class:`~nnlint.analysis.dataflow.values.Items`, indexing
follows them, and a conditional expression is known only when both arms agree. Every
other expression is descended into for the loss calls inside it. This is the per-node
hot path of the analysis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from nnlint.analysis.dataflow.state import Scope, is_self_attribute
from nnlint.analysis.dataflow.statements import StatementWalker
from nnlint.analysis.dataflow.values import Items, Tensor, Value, merge
from nnlint.analysis.names import dotted_name
from nnlint.analysis.walk import iter_children

_ROLES: dict[type, str] = {}


def _role(kind: type) -> str:
    """How :meth:`ExpressionWalker.children` treats a node type, cached per type: an
    expression (evaluated), a statement (walked elsewhere, skipped here) or other
    (arguments, slices, comprehension clauses: descended into)."""
    role = _ROLES.get(kind)
    if role is None:
        if issubclass(kind, cst.BaseExpression):
            role = "expression"
        elif issubclass(kind, cst.BaseSuite | cst.BaseStatement):
            role = "statement"
        else:
            role = "other"
        _ROLES[kind] = role
    return role


def _literal_key(node: cst.BaseSlice) -> int | str | None:
    if not isinstance(node, cst.Index):
        return None
    value = node.value
    if isinstance(value, cst.Integer):
        return value.evaluated_value
    if isinstance(value, cst.UnaryOperation) and isinstance(
        value.expression, cst.Integer
    ):
        if isinstance(value.operator, cst.Minus):
            return -value.expression.evaluated_value
    if isinstance(value, cst.SimpleString):
        evaluated = value.evaluated_value
        return evaluated if isinstance(evaluated, str) else None
    return None


class ExpressionWalker(StatementWalker):
    if TYPE_CHECKING:
        # Defined by the call layer (calls.py).
        def call(self, node: cst.Call, scope: Scope) -> Value: ...

    def expr(self, node: cst.BaseExpression, scope: Scope) -> Value:
        # Dispatch on the exact type: isinstance() against libcst's ABC-based node
        # classes was the analysis's main cost.
        kind = type(node)
        if kind is cst.Name:
            return self.name(node.value, scope)  # type: ignore[attr-defined]
        if kind is cst.Call:
            return self.call(node, scope)  # type: ignore[arg-type]
        if kind is cst.Attribute:
            if is_self_attribute(node, scope):
                return self.attribute(scope.owner, node.attr.value)  # type: ignore[arg-type,attr-defined]
            self.expr(node.value, scope)  # type: ignore[attr-defined]
            return None
        if kind is cst.Subscript:
            return self.subscript(node, scope)  # type: ignore[arg-type]
        if kind is cst.Tuple or kind is cst.List:
            elements = node.elements  # type: ignore[attr-defined]
            values = tuple(self.expr(element.value, scope) for element in elements)
            starred = any(type(e) is cst.StarredElement for e in elements)
            return None if starred else Items(values)
        if kind is cst.Dict:
            return self.dict_literal(node, scope)  # type: ignore[arg-type]
        if kind is cst.IfExp:
            assert isinstance(node, cst.IfExp)
            self.expr(node.test, scope)
            return merge(self.expr(node.body, scope), self.expr(node.orelse, scope))
        if kind is cst.NamedExpr:
            assert isinstance(node, cst.NamedExpr)
            value = self.expr(node.value, scope)
            self.bind(node.target, value, scope)
            return value
        self.children(node, scope)
        return None

    def children(self, node: cst.CSTNode, scope: Scope) -> None:
        """Visit sub-expressions we do not model, for the loss calls inside them."""
        for child in iter_children(node):
            role = _role(type(child))
            if role == "expression":
                self.expr(child, scope)  # type: ignore[arg-type]
            elif role == "other":
                self.children(child, scope)

    def name(self, name: str, scope: Scope) -> Value:
        if name in scope.env:
            return scope.env[name]
        return self.globals.get(name)

    def subscript(self, node: cst.Subscript, scope: Scope) -> Value:
        base = self.expr(node.value, scope)
        for element in node.slice:
            self.children(element, scope)
        if isinstance(base, Tensor):
            return base  # indexing a probability tensor still gives probabilities
        if isinstance(base, Items) and len(node.slice) == 1:
            key = _literal_key(node.slice[0].slice)
            if (
                isinstance(key, int)
                and base.keys is None
                and -len(base.values) <= key < len(base.values)
            ):
                return base.values[key]
            if isinstance(key, str) and base.keys is not None and key in base.keys:
                return base.values[base.keys.index(key)]
        return None

    def dict_literal(self, node: cst.Dict, scope: Scope) -> Value:
        keys: list[str] = []
        values: list[Value] = []
        for element in node.elements:
            if not isinstance(element, cst.DictElement):
                self.children(element, scope)
                return None
            self.expr(element.key, scope)
            values.append(self.expr(element.value, scope))
            key = element.key
            evaluated = (
                key.evaluated_value if isinstance(key, cst.SimpleString) else None
            )
            if not isinstance(evaluated, str):
                return None
            keys.append(evaluated)
        return Items(tuple(values), tuple(keys))

    def resolve(self, node: cst.BaseExpression, scope: Scope) -> str | None:
        """Qualified name of an imported callee, unless a local name shadows it."""
        name = dotted_name(node)
        if name is None:
            return None
        head = name.partition(".")[0]
        if head in scope.env or head in self.globals or head in self.classes:
            return None
        return self.imports.resolve(node)
