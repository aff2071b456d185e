"""Functions and classes of the file: what calling them returns, and their losses.

The walker's interprocedural layer. It indexes the file's top-level functions and
classes, walks a function once to summarise what it returns (memoised, recursion
cut), finds methods and ``self.<attr>`` values through the file's base classes, and
checks a loss applied to a function's parameter again at each call site with the
argument given there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import libcst as cst

from nnlint.dataflow.state import ClassInfo, Scope, Site, WalkerState
from nnlint.dataflow.values import Param, Tensor, Value, merge_all
from nnlint.names import dotted_name


def _decorators(node: cst.FunctionDef) -> set[str]:
    return {
        decorator.decorator.value
        for decorator in node.decorators
        if isinstance(decorator.decorator, cst.Name)
    }


def _fills_first_parameter(
    node: cst.FunctionDef, owner: str | None, via_class: bool
) -> bool:
    """Does the call site fill the first parameter (``self``/``cls``) implicitly?"""
    decorators = _decorators(node)
    if via_class:
        return "classmethod" in decorators
    return owner is not None and "staticmethod" not in decorators


def _argument_value(
    call: cst.Call, values: list[Value], index: int, name: str
) -> Value:
    """The value passed for parameter ``name`` (positional ``index``) at a call site."""
    for arg, value in zip(call.args, values, strict=True):
        if arg.keyword is not None and arg.keyword.value == name:
            return value
    positional = []
    for arg, value in zip(call.args, values, strict=True):
        if arg.star:
            return None  # ``*args``: positions are unknown from here on
        if arg.keyword is None:
            positional.append(value)
    return positional[index] if 0 <= index < len(positional) else None


class Linker(WalkerState):
    if TYPE_CHECKING:
        # Defined by the statement layer (statements.py), which walks function bodies.
        def suite(self, suite: cst.BaseSuite, scope: Scope) -> None: ...

    def _index(self) -> None:
        for statement in self.module.body:
            if isinstance(statement, cst.FunctionDef):
                self.functions[statement.name.value] = statement
            elif isinstance(statement, cst.ClassDef):
                info = ClassInfo(
                    bases=[dotted_name(b.value) or "" for b in statement.bases]
                )
                for item in statement.body.body:
                    if isinstance(item, cst.FunctionDef):
                        info.methods[item.name.value] = item
                self.classes[statement.name.value] = info

    # -- functions ---------------------------------------------------------------------
    def walk_function(
        self,
        node: cst.FunctionDef,
        owner: str | None,
        env: dict[str, Value] | None = None,
    ) -> Value:
        scope = Scope(node, owner, dict(env or {}))
        params = node.params
        for index, param in enumerate((*params.posonly_params, *params.params)):
            scope.env[param.name.value] = Param(node, index, param.name.value)
        for param in params.kwonly_params:
            scope.env[param.name.value] = Param(node, -1, param.name.value)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                scope.env[star.name.value] = None
        self.suite(node.body, scope)
        return merge_all(scope.returns)

    def summary(self, node: cst.FunctionDef, owner: str | None) -> Value:
        """What calling a function returns (walking it once, recording its losses)."""
        if not self.record or node in self.running:
            return None
        if node not in self.summaries:
            self.running.add(node)
            self.summaries[node] = self.walk_function(node, owner)
            self.running.discard(node)
        return self.summaries[node]

    def invoke(
        self,
        node: cst.FunctionDef,
        owner: str | None,
        site: Site | None,
        via_class: bool = False,
    ) -> Value:
        """Call a function defined in the file: its summary, and its parameter losses
        checked against the arguments given at this call site."""
        result = self.summary(node, owner)
        if site is None or not self.param_losses.get(node):
            return result
        call, values, scope = site
        bound = _fills_first_parameter(node, owner, via_class)
        for param, use in list(self.param_losses[node]):  # recursion may extend it
            index = param.index - 1 if bound and param.index >= 0 else param.index
            given = _argument_value(call, values, index, param.name)
            if isinstance(given, Tensor):
                self.analysis.uses.append(replace(use, value=given, single_use=False))
            elif isinstance(given, Param) and given.function is scope.node:
                # Passed on from the caller's own parameter: check the caller's callers.
                entries = self.param_losses.setdefault(given.function, [])
                if (given, use) not in entries:
                    entries.append((given, use))
        return result

    # -- classes -----------------------------------------------------------------------
    def _find(self, cls: str, pick: Callable[[ClassInfo], Any], depth: int = 0) -> Any:
        info = self.classes.get(cls)
        if info is None or depth > 8:
            return None
        found = pick(info)
        if found is not None:
            return found
        for base in info.bases:
            found = self._find(base, pick, depth + 1)
            if found is not None:
                return found
        return None

    def method_result(
        self, cls: str, name: str, site: Site | None = None, via_class: bool = False
    ) -> tuple[bool, Value]:
        def pick(info: ClassInfo) -> tuple[cst.FunctionDef, str] | None:
            method = info.methods.get(name)
            return None if method is None else (method, cls)

        found = self._find(cls, pick)
        if found is None:
            return False, None
        return True, self.invoke(found[0], cls, site, via_class)

    def attribute(self, cls: str, name: str) -> Value:
        return self._find(cls, lambda info: info.attrs.get(name))
