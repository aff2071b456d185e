"""Statements of the loss-wiring walk: source order, bindings and branch merging.

Walks a block statement by statement, binding assigned names (element-wise for
tuple unpacking, ``self.<attr>`` into the class's table in the silent first pass),
and runs the alternatives of ``if``/loops/``try`` from one environment, keeping after
them only what every path agrees on (*must*-style merging).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import libcst as cst

from nnlint.analysis.dataflow.linking import Linker
from nnlint.analysis.dataflow.origins import drop_line
from nnlint.analysis.dataflow.state import Scope, is_self_attribute
from nnlint.analysis.dataflow.values import Items, Returned, Value, same
from nnlint.analysis.names import dotted_name


def _bound_by_import(node: cst.Import | cst.ImportFrom) -> list[str]:
    if isinstance(node.names, cst.ImportStar):
        return []
    bound = []
    for alias in node.names:
        local = alias.asname.name if alias.asname is not None else alias.name
        bound.append((dotted_name(local) or "").partition(".")[0])
    return bound


class StatementWalker(Linker):
    if TYPE_CHECKING:
        # Defined by the expression layer (expressions.py).
        def expr(self, node: cst.BaseExpression, scope: Scope) -> Value: ...

    def suite(self, suite: cst.BaseSuite, scope: Scope) -> None:
        if isinstance(suite, cst.IndentedBlock):
            self.block(suite.body, scope)
        elif isinstance(suite, cst.SimpleStatementSuite):
            for small in suite.body:
                self.small(small, None, scope, 1)

    def block(self, statements: Sequence[cst.BaseStatement], scope: Scope) -> None:
        for statement in statements:
            self.statement(statement, scope, len(statements))

    def statement(self, node: cst.BaseStatement, scope: Scope, block: int) -> None:
        if isinstance(node, cst.SimpleStatementLine):
            for small in node.body:
                self.small(small, node, scope, block)
        elif isinstance(node, cst.If):
            self.if_statement(node, scope)
        elif isinstance(node, cst.For | cst.While):
            self.loop(node, scope)
        elif isinstance(node, cst.With):
            for item in node.items:
                self.expr(item.item, scope)
                if item.asname is not None:
                    self.bind(item.asname.name, None, scope)
            self.suite(node.body, scope)
        elif isinstance(node, cst.Try):
            self.try_statement(node, scope)
        elif isinstance(node, cst.FunctionDef) and scope.node is not self.module:
            result = self.walk_function(node, scope.owner, scope.env)
            scope.env[node.name.value] = Returned(result)
        elif (
            isinstance(node, cst.FunctionDef) and node.name.value not in self.functions
        ):
            scope.env[node.name.value] = Returned(self.walk_function(node, None))

    def if_statement(self, node: cst.If, scope: Scope) -> None:
        self.expr(node.test, scope)
        orelse = node.orelse
        runs = [lambda s: self.suite(node.body, s)]
        if isinstance(orelse, cst.Else):
            runs.append(lambda s: self.suite(orelse.body, s))
        elif isinstance(orelse, cst.If):
            runs.append(lambda s: self.statement(orelse, s, 1))
        self.branches(scope, runs, may_skip=orelse is None)

    def loop(self, node: cst.For | cst.While, scope: Scope) -> None:
        if isinstance(node, cst.For):
            self.expr(node.iter, scope)
            target = node.target
            self.branches(scope, [lambda s: self._for_body(target, node.body, s)], True)
        else:
            self.expr(node.test, scope)
            self.branches(scope, [lambda s: self.suite(node.body, s)], may_skip=True)
        if node.orelse is not None:
            self.suite(node.orelse.body, scope)

    def _for_body(
        self, target: cst.BaseExpression, body: cst.BaseSuite, scope: Scope
    ) -> None:
        self.bind(target, None, scope)
        self.suite(body, scope)

    def try_statement(self, node: cst.Try, scope: Scope) -> None:
        self.suite(node.body, scope)
        runs = [lambda s, h=handler: self.suite(h.body, s) for handler in node.handlers]
        if runs:
            self.branches(scope, runs, may_skip=True)
        if node.orelse is not None:
            self.suite(node.orelse.body, scope)
        if node.finalbody is not None:
            self.suite(node.finalbody.body, scope)

    def branches(
        self, scope: Scope, runs: Sequence[Callable[..., None]], may_skip: bool
    ) -> None:
        """Run alternative paths from one environment; keep only what they agree on."""
        base = scope.env
        results = []
        for run in runs:
            scope.env = dict(base)
            run(scope)
            results.append(scope.env)
        if may_skip:
            results.append(base)
        merged: dict[str, Value] = {}
        for name in {name for env in results for name in env}:
            if not all(name in env for env in results):
                merged[name] = None  # bound on some paths only
                continue
            first = results[0][name]
            agree = all(same(env[name], first) for env in results)
            merged[name] = first if agree else None
        scope.env = merged

    def small(
        self,
        node: cst.BaseSmallStatement,
        line: cst.SimpleStatementLine | None,
        scope: Scope,
        block: int,
    ) -> None:
        if isinstance(node, cst.Assign):
            value = self.expr(node.value, scope)
            for target in node.targets:
                bound = value
                if isinstance(target.target, cst.Name) and len(node.targets) == 1:
                    bound = drop_line(value, line, target.target.value, block)
                    scope.sources[target.target.value] = node.value
                self.bind(target.target, bound, scope)
        elif isinstance(node, cst.AnnAssign) and node.value is not None:
            self.bind(node.target, self.expr(node.value, scope), scope)
        elif isinstance(node, cst.AugAssign):
            self.expr(node.value, scope)
            self.bind(node.target, None, scope)
        elif isinstance(node, cst.Return):
            value = self.expr(node.value, scope) if node.value is not None else None
            scope.returns.append(value)
            self.factory_result(value)
        elif isinstance(node, cst.Expr):
            self.expr(node.value, scope)
        elif isinstance(node, cst.Import | cst.ImportFrom):
            self.imports.add_import(node)
            for name in _bound_by_import(node):
                scope.env.pop(name, None)  # the import rebinds it: resolve it again

    # -- bindings ----------------------------------------------------------------------
    def bind(self, target: cst.BaseExpression, value: Value, scope: Scope) -> None:
        if isinstance(target, cst.Name):
            scope.env[target.value] = value
        elif isinstance(target, cst.Tuple | cst.List):
            self.bind_items(target.elements, value, scope)
        elif is_self_attribute(target, scope) and not self.record:
            assert isinstance(target, cst.Attribute)
            attrs = self.classes[scope.owner or ""].attrs
            name = target.attr.value
            # Assigned in several places with different values: unknown.
            attrs[name] = value if same(attrs.get(name, value), value) else None

    def bind_items(
        self, elements: Sequence[cst.BaseElement], value: Value, scope: Scope
    ) -> None:
        """``a, b = value``: element-wise when the value is a tuple of that length."""
        fits = (
            isinstance(value, Items)
            and value.keys is None
            and len(value.values) == len(elements)
            and not any(isinstance(e, cst.StarredElement) for e in elements)
        )
        for index, element in enumerate(elements):
            item = value.values[index] if fits else None  # type: ignore[union-attr]
            self.bind(element.value, item, scope)
