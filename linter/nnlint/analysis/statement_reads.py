"""What the statements of a method read and produce, for the residual sums (NNL401).

Syntax only: the variables an expression reads (shape reads excluded), the addends of
a sum, the names a statement assigns and reads, and the calls whose result *is* a
statement's value.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

from nnlint.analysis.cst_syntax import first_arg, is_self_attr
from nnlint.analysis.walk import iter_children

# Reading only these from a tensor does not make a value depend on its contents.
SHAPE_ATTRS = frozenset({"shape", "device", "dtype", "ndim", "size", "dim"})


def reads(expr: cst.CSTNode) -> tuple[set[str], bool]:
    """Variables an expression reads (not attribute names, keywords or shapes), and
    whether it calls anything."""
    names: set[str] = set()
    has_call = False
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            if node.value != "self":
                names.add(node.value)
        elif isinstance(node, cst.Attribute):
            if node.attr.value not in SHAPE_ATTRS:
                stack.append(node.value)
        elif isinstance(node, cst.Arg):
            stack.append(node.value)
        else:
            has_call = has_call or isinstance(node, cst.Call)
            stack.extend(iter_children(node))
    return names, has_call


def addends(expr: cst.BaseExpression) -> list[cst.BaseExpression]:
    """``[a, b, c]`` for ``a + b + c`` (iterative: long chains are not deep calls)."""
    found: list[cst.BaseExpression] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
            stack.extend((node.right, node.left))
        else:
            found.append(node)
    return found


def target_names(target: cst.BaseExpression) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, cst.Tuple | cst.List):
        return [
            name for element in target.elements for name in target_names(element.value)
        ]
    return []


def assigned(small: cst.BaseSmallStatement) -> set[str]:
    if isinstance(small, cst.Assign):
        return {n for t in small.targets for n in target_names(t.target)}
    if isinstance(small, cst.AnnAssign | cst.AugAssign):
        return set(target_names(small.target))
    return set()


def statement_reads(small: cst.BaseSmallStatement) -> set[str]:
    if isinstance(small, cst.Assign):
        return reads(small.value)[0]
    if isinstance(small, cst.AnnAssign):
        return reads(small.value)[0] if small.value is not None else set()
    return reads(small)[0]  # AugAssign reads its target too


def header_reads(statement: cst.CSTNode) -> set[str]:
    """Variables read by a compound statement's own header (``if``/``for``/``with``),
    not the names it binds (``for x in ...``, ``with ... as y``)."""
    if isinstance(statement, cst.If | cst.While):
        return reads(statement.test)[0]
    if isinstance(statement, cst.For):
        return reads(statement.iter)[0]
    if isinstance(statement, cst.With):
        return {n for item in statement.items for n in reads(item.item)[0]}
    return set()


def outputs(
    small: cst.BaseSmallStatement, passes: Callable[[cst.Call], bool]
) -> list[cst.Call]:
    """Calls whose result *is* the statement's value (assigned or returned), seen
    through arithmetic (``n(x) * (1 + s) + b``), method calls on it (``n(x).float()``),
    tuple elements and pass-through calls (activations, dropout); not calls whose
    result is another call's argument (a branch)."""
    if isinstance(small, cst.Assign | cst.Return) and small.value is not None:
        stack = [small.value]
    else:
        return []
    found: list[cst.Call] = []
    while stack:
        node = stack.pop()
        if isinstance(node, cst.BinaryOperation):
            stack.extend((node.left, node.right))
        elif isinstance(node, cst.UnaryOperation):
            stack.append(node.expression)
        elif isinstance(node, cst.Tuple):
            stack.extend(element.value for element in node.elements)
        elif isinstance(node, cst.Call):
            found.append(node)
            if passes(node) and (inner := first_arg(node)) is not None:
                stack.append(inner)
            elif isinstance(node.func, cst.Attribute) and not is_self_attr(node.func):
                stack.append(node.func.value)  # the receiver of a method call
    return found
