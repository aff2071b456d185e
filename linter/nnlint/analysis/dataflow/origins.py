"""Where a tensor's kind came from, and the edits a fix needs to undo it.

Builds the :class:`~nnlint.analysis.dataflow.values.Origin` of a
softmax/sigmoid/activation (a call, a module object called on a tensor, an element of an
``nn.Sequential``), and holds the small syntax helpers the NNL1xx rules share
(:func:`argument`).
"""

from __future__ import annotations

from dataclasses import replace

import libcst as cst

from nnlint.analysis.dataflow.values import ModuleObject, Origin, Tensor, Value


# -- helpers shared with the rules -----------------------------------------------------
def argument(call: cst.Call, position: int, keyword: str) -> cst.BaseExpression | None:
    """The expression passed for a parameter, by keyword or position; None if absent."""
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == keyword:
            return arg.value
    if any(arg.star for arg in call.args):
        return None
    positional = [arg for arg in call.args if arg.keyword is None]
    return positional[position].value if position < len(positional) else None


def parenthesised(node: cst.BaseExpression) -> cst.BaseExpression:
    """``node`` fit to stand where a call stood: atoms as they are, others in parens."""
    atoms = (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.SimpleString)
    if isinstance(node, atoms) or node.lpar:
        return node
    return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def without_element(call: cst.Call, index: int) -> cst.Call:
    """``nn.Sequential(a, b)`` without the element at ``index``, layout preserved."""
    args = list(call.args)
    removed = args.pop(index)
    if args and index == len(args):
        args[-1] = args[-1].with_changes(comma=removed.comma)
    return call.with_changes(args=args)


# -- origins ---------------------------------------------------------------------------
def call_origin(
    node: cst.Call, inner: cst.BaseExpression | None, dim_at: int
) -> Origin:
    named_by = node.func if isinstance(node.func, cst.Attribute) else None
    remove = ((node, parenthesised(inner)),) if inner is not None else ()
    return Origin(node, remove, named_by, argument(node, dim_at, "dim"), inner)


def module_origin(module: ModuleObject, call: cst.Call) -> Origin:
    named_by = module.ctor.func if isinstance(module.ctor.func, cst.Attribute) else None
    dim = argument(module.ctor, 0, "dim")
    if module.container is not None:
        trimmed = without_element(module.container, module.element)
        return Origin(module.ctor, ((module.container, trimmed),), named_by, dim)
    inner = argument(call, 0, "input")
    remove = ((call, parenthesised(inner)),) if inner is not None else ()
    return Origin(call, remove, named_by, dim, inner)


def drop_line(value: Value, line: cst.CSTNode | None, target: str, block: int) -> Value:
    """``x = F.softmax(x, 1)``: the op is best removed by dropping the whole line."""
    if not isinstance(value, Tensor) or not isinstance(line, cst.SimpleStatementLine):
        return value
    origin = value.origin
    if block < 2 or len(line.body) != 1 or not origin.remove:
        return value
    if not (isinstance(origin.inner, cst.Name) and origin.inner.value == target):
        return value
    if origin.remove[0][0] is not origin.node:
        return value
    dropped = replace(origin, remove=((line, cst.RemovalSentinel.REMOVE),))
    return replace(value, origin=dropped)
