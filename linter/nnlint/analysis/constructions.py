"""The integers a class's ``__init__`` parameters take where the file builds it.

A width such as ``d_out`` or ``planes * self.expansion`` is an expression of the
constructor's parameters; whether two such widths differ depends on how the class is
built. This module answers from the file itself:

* :func:`class_calls`: the calls of the class by its bare name (``Block(32, 64)``);
* :func:`bound`: the integer literals one call binds to the parameters (passed
  positionally or by keyword, or the default literal when omitted);
* :func:`evaluate`: the integer a width expression takes under such a binding, with
  the class's integer constants (``expansion = 4``);
* :func:`init_parameters` and :func:`related`: which parameters an expression reads,
  and whether ``__init__`` compares or rebinds them (then the author ties them).

Nothing here judges: the rule decides what a difference proves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from nnlint.analysis.module_model import ClassModel, file_model, name_calls
from nnlint.analysis.walk import walk

if TYPE_CHECKING:
    from nnlint.analysis.context import AnalysisContext


def class_calls(context: AnalysisContext, owner: ClassModel) -> list[cst.Call]:
    """Calls of ``owner`` by its bare name anywhere in this file (none when the
    file defines two classes of that name: the call could be to either)."""
    name = owner.node.name.value
    classes = context.get(file_model).classes.values()
    if sum(model.node.name.value == name for model in classes) != 1:
        return []
    return context.get(name_calls).get(name, [])


def init_parameters(expr: cst.BaseExpression, owner: ClassModel) -> set[str]:
    """The ``__init__`` parameters a width expression reads."""
    return {
        n.value
        for n in walk(expr)
        if isinstance(n, cst.Name) and n.value in owner.init_params
    }


def class_constants(node: cst.ClassDef) -> dict[str, int]:
    """Integer class attributes (``expansion = 4``), read as ``self.expansion``."""
    found: dict[str, int] = {}
    for statement in node.body.body:
        small = (
            statement.body[0]
            if isinstance(statement, cst.SimpleStatementLine)
            else None
        )
        if isinstance(small, cst.Assign) and len(small.targets) == 1:
            target = small.targets[0].target
            if isinstance(target, cst.Name) and isinstance(small.value, cst.Integer):
                found[target.value] = int(small.value.value, 0)
    return found


def evaluate(
    expr: cst.BaseExpression, bound: dict[str, int], constants: dict[str, int]
) -> int | None:
    """The integer a width expression takes under ``bound`` parameter values:
    literals, parameters, class constants and ``+ - * //`` between them."""
    if isinstance(expr, cst.Integer):
        return int(expr.value, 0)
    if isinstance(expr, cst.Name):
        return bound.get(expr.value)
    if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name):
        return constants.get(expr.attr.value)  # ``self.expansion``, ``Cls.expansion``
    if isinstance(expr, cst.BinaryOperation):
        a = evaluate(expr.left, bound, constants)
        b = evaluate(expr.right, bound, constants)
        if a is None or b is None:
            return None
        return _arithmetic(expr.operator, a, b)
    return None


def _arithmetic(op: cst.BaseBinaryOp, a: int, b: int) -> int | None:
    if isinstance(op, cst.Add):
        return a + b
    if isinstance(op, cst.Subtract):
        return a - b
    if isinstance(op, cst.Multiply):
        return a * b
    if isinstance(op, cst.FloorDivide) and b:
        return a // b
    return None


def related(init: cst.FunctionDef, names: set[str]) -> bool:
    """True when ``__init__`` compares the two widths or rebinds either of them."""
    for node in walk(init):
        if isinstance(node, cst.Comparison | cst.AssignTarget | cst.AugAssign):
            mentioned = {n.value for n in walk(node) if isinstance(n, cst.Name)}
            if isinstance(node, cst.Comparison) and names <= mentioned:
                return True  # the author relates the two widths
            if not isinstance(node, cst.Comparison) and names & mentioned:
                return True  # rebound, e.g. ``d_out = d_out or d_in``
    return False


def bound(init: cst.FunctionDef, call: cst.Call | None) -> dict[str, int] | None:
    """The integer literals ``call`` binds to ``__init__``'s parameters (passed, or
    defaulted when omitted; ``call`` None: the defaults alone). Parameters bound to
    anything else are left out; None when the binding cannot be followed."""
    if init.params.posonly_params:
        return None  # ``self`` sits there; binding would need the full protocol
    params = init.params.params[1:]
    given: dict[str, cst.BaseExpression | None] = {
        p.name.value: p.default for p in (*params, *init.params.kwonly_params)
    }
    position = 0
    for argument in call.args if call is not None else ():
        if argument.star:
            return None  # ``*widths`` / ``**cfg`` could bind any parameter
        if argument.keyword is not None:
            given[argument.keyword.value] = argument.value
        elif position < len(params):
            given[params[position].name.value] = argument.value
            position += 1
        else:
            return None
    return {
        name: int(value.value, 0)
        for name, value in given.items()
        if isinstance(value, cst.Integer)
    }
