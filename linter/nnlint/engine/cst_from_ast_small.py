"""Small statements of :mod:`nnlint.engine.cst_from_ast` (the ones a ``;`` may join)."""

from __future__ import annotations

import ast
from typing import Any

import libcst as cst

from nnlint.engine.cst_from_ast_exprs import ExpressionConverter

_AUGMENTED: dict[type, type] = {
    ast.Add: cst.AddAssign, ast.Sub: cst.SubtractAssign, ast.Mult: cst.MultiplyAssign,
    ast.Div: cst.DivideAssign, ast.FloorDiv: cst.FloorDivideAssign,
    ast.Mod: cst.ModuloAssign, ast.Pow: cst.PowerAssign,
    ast.MatMult: cst.MatrixMultiplyAssign, ast.LShift: cst.LeftShiftAssign,
    ast.RShift: cst.RightShiftAssign, ast.BitAnd: cst.BitAndAssign,
    ast.BitOr: cst.BitOrAssign, ast.BitXor: cst.BitXorAssign,
}  # fmt: skip


def _dotted(name: str) -> cst.Name | cst.Attribute:
    """``a.b.c`` as libcst writes an imported name: nested attributes."""
    parts = name.split(".")
    result: cst.Name | cst.Attribute = cst.Name(value=parts[0])
    for part in parts[1:]:
        result = cst.Attribute(value=result, attr=cst.Name(value=part))
    return result


def _aliases(names: list[ast.alias]) -> list[cst.ImportAlias]:
    return [
        cst.ImportAlias(
            name=_dotted(alias.name),
            asname=None
            if alias.asname is None
            else cst.AsName(name=cst.Name(value=alias.asname)),
        )
        for alias in names
    ]


class SmallStatements(ExpressionConverter):
    """Statements that fit in a ``SimpleStatementLine``."""

    def _expression(self, node: ast.Expr) -> cst.Expr:
        return cst.Expr(value=self.expr(node.value))

    def _assign(self, node: ast.Assign) -> cst.Assign:
        targets = [cst.AssignTarget(target=self.expr(item)) for item in node.targets]
        return cst.Assign(targets=targets, value=self.expr(node.value))

    def _augmented(self, node: ast.AugAssign) -> cst.AugAssign:
        return cst.AugAssign(
            target=self.expr(node.target),
            operator=_AUGMENTED[type(node.op)](),
            value=self.expr(node.value),
        )

    def _annotated(self, node: ast.AnnAssign) -> cst.AnnAssign:
        return cst.AnnAssign(
            target=self.expr(node.target),
            annotation=cst.Annotation(annotation=self.expr(node.annotation)),
            value=self.optional(node.value),
        )

    def _return(self, node: ast.Return) -> cst.Return:
        return cst.Return(value=self.optional(node.value))

    def _delete(self, node: ast.Delete) -> cst.Del:
        targets = node.targets
        if len(targets) == 1:
            return cst.Del(target=self.expr(targets[0]))
        return cst.Del(target=cst.Tuple(elements=self.elements(targets)))

    def _raise(self, node: ast.Raise) -> cst.Raise:
        cause = None if node.cause is None else cst.From(item=self.expr(node.cause))
        return cst.Raise(exc=self.optional(node.exc), cause=cause)

    def _assert(self, node: ast.Assert) -> cst.Assert:
        return cst.Assert(test=self.expr(node.test), msg=self.optional(node.msg))

    def _global(self, node: ast.Global) -> cst.Global:
        return cst.Global(
            names=[cst.NameItem(name=cst.Name(value=n)) for n in node.names]
        )

    def _nonlocal(self, node: ast.Nonlocal) -> cst.Nonlocal:
        names = [cst.NameItem(name=cst.Name(value=name)) for name in node.names]
        return cst.Nonlocal(names=names)

    def _import(self, node: ast.Import) -> cst.Import:
        return cst.Import(names=_aliases(node.names))

    def _import_from(self, node: ast.ImportFrom) -> cst.ImportFrom:
        star = len(node.names) == 1 and node.names[0].name == "*"
        names: Any = cst.ImportStar() if star else _aliases(node.names)
        return cst.ImportFrom(
            module=None if node.module is None else _dotted(node.module),
            names=names,
            relative=[cst.Dot() for _ in range(node.level or 0)],
        )
