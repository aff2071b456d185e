"""How many times a block is provably stacked (NNL401): loop lengths and constants.

A count is provable when every loop around the instantiation is ``for ... in
range(N)`` or a comprehension over ``range(N)`` without a filter, and each ``N`` is a
literal, the integer default of the enclosing function's parameter, or a module-level
integer constant. Anything else (``range(config.num_layers)``) is unknown.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import libcst as cst

from nnlint.analysis.cst_syntax import (
    argument,
    assign_targets,
    enclosing,
    has_star_args,
)
from nnlint.engine.prefilter import AnyOf, construction_calls

if TYPE_CHECKING:
    from nnlint.analysis.context import WalkPosition

# A module-level integer constant (``N_LAYERS = 16``, also ``A = B = 16``).
_DEPTH_CONSTANT = re.compile(
    r"^\w+(?:[ \t]*=[ \t]*\w+)*[ \t]*(?::[^=\n]*)?=[ \t]*\d", re.MULTILINE
)


def stacks_and_depths(hit: str) -> AnyOf:
    """Statements that may stack a block defined in ``hit`` (they call it by name)
    or give a loop its length (module-level integer constants)."""
    return AnyOf(construction_calls(hit), _DEPTH_CONSTANT)


class LoopDepths:
    """Loop lengths and integer values in one file, read at the rule's current node."""

    def __init__(self, context: WalkPosition) -> None:
        self.context = context
        self._constants: dict[str, int] | None = None

    def loop_multiplier(self) -> int | None:
        """Product of the ``range(N)`` loops around the current node; None if a loop
        runs an unknown number of times."""
        ancestors = self.context.ancestors
        scope = enclosing(ancestors, cst.FunctionDef)
        total = 1
        for outer, inner in zip(ancestors, ancestors[1:], strict=False):
            count: int | None = 1
            if isinstance(outer, cst.For) and inner is outer.body:
                count = self._range_length(outer.iter, scope)
            elif isinstance(outer, cst.ListComp | cst.GeneratorExp | cst.SetComp):
                if inner is outer.elt:
                    count = self._comprehension_length(outer.for_in, scope)
            if count is None:
                return None
            total *= count
        return total

    def _comprehension_length(
        self, clause: cst.CompFor | None, scope: cst.CSTNode | None
    ) -> int | None:
        total = 1
        while clause is not None:
            if clause.ifs:
                return None  # a filter makes the count unknowable
            count = self._range_length(clause.iter, scope)
            if count is None:
                return None
            total *= count
            clause = clause.inner_for_in
        return total

    def _range_length(
        self, expr: cst.BaseExpression, scope: cst.CSTNode | None
    ) -> int | None:
        if not (isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name)):
            return None
        if expr.func.value != "range" or has_star_args(expr):
            return None
        bounds = [self.integer(arg.value, scope) for arg in expr.args]
        if len(bounds) == 1:
            return bounds[0]
        if len(bounds) == 2 and bounds[0] is not None and bounds[1] is not None:
            return max(bounds[1] - bounds[0], 0)
        return None

    def integer(
        self, expr: cst.BaseExpression, scope: cst.CSTNode | None
    ) -> int | None:
        """A literal, a parameter's integer default, or a module-level constant."""
        if isinstance(expr, cst.Integer):
            return int(expr.value, 0)
        if not isinstance(expr, cst.Name):
            return None
        if isinstance(scope, cst.FunctionDef):
            params = scope.params
            for param in [
                *params.params,
                *params.kwonly_params,
                *params.posonly_params,
            ]:
                if param.name.value == expr.value:
                    default = param.default
                    return (
                        int(default.value, 0)
                        if isinstance(default, cst.Integer)
                        else None
                    )
        return self._module_constants().get(expr.value)

    def integer_arg(
        self, node: cst.Call, position: int, name: str, scope: cst.CSTNode | None
    ) -> int | None:
        """:meth:`integer` of the value passed for parameter ``name``."""
        value = argument(node, position, name)
        return self.integer(value, scope) if value is not None else None

    def _module_constants(self) -> dict[str, int]:
        if self._constants is None:
            self._constants = {}
            for statement in self.context.module.body:
                small = (
                    statement.body[0]
                    if isinstance(statement, cst.SimpleStatementLine)
                    else None
                )
                if isinstance(small, cst.Assign | cst.AnnAssign) and isinstance(
                    small.value, cst.Integer
                ):
                    for target in assign_targets(small):
                        if isinstance(target, cst.Name):
                            self._constants[target.value] = int(small.value.value, 0)
        return self._constants
