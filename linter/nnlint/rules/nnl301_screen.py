"""NNL301's screen: which classes may hold a residual add the rule can follow."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from nnlint.rules.screens import attribute_assignments, forward_methods


def may_add_a_residual(node: ast.ClassDef) -> bool:
    """The screen: the class builds a layer from a call (``self.conv = ...(...)``),
    and a ``forward*`` method adds, outside any branch, two operands whose chain of
    layers the forward flow can follow (a name, a call or ``x @ self.w``)."""
    if not any(
        isinstance(value, ast.Call | ast.IfExp)
        for _, value in attribute_assignments(node)
    ):
        return False
    return any(
        _followed_add(child)
        for function in forward_methods(node)
        for child in _unguarded(function)
    )


def _followed_add(node: ast.AST) -> bool:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _followed(node.left) and _followed(node.right)
    if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add):
        return _followed(node.target) and _followed(node.value)
    return False


def _followed(operand: ast.expr) -> bool:
    if isinstance(operand, ast.BinOp):
        return isinstance(operand.op, ast.MatMult)
    return isinstance(operand, ast.Name | ast.Call)


def _unguarded(function: ast.AST) -> Iterator[ast.AST]:
    """The nodes of ``function`` outside the branches of ``if``/``for``/``while``
    and conditional expressions (their tests included): the rule leaves guarded
    adds alone."""
    stack = [function]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If | ast.While | ast.IfExp):
            stack.append(node.test)
        elif isinstance(node, ast.For | ast.AsyncFor):
            stack.extend((node.target, node.iter))
        else:
            stack.extend(ast.iter_child_nodes(node))
