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

from nnlint.analysis.dataflow.state import (
    ClassInfo,
    Criterion,
    Scope,
    Site,
    WalkerState,
)
from nnlint.analysis.dataflow.values import (
    Called,
    Instance,
    Items,
    LossObject,
    LossUse,
    Param,
    Tensor,
    Value,
    merge_all,
)
from nnlint.analysis.names import dotted_name


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
        if site is None:
            return result
        bound = _fills_first_parameter(node, owner, via_class)

        def given(param: Param) -> Value:
            index = param.index - 1 if bound and param.index >= 0 else param.index
            return _argument_value(site[0], site[1], index, param.name)

        for entry, use in list(self.param_losses.get(node, ())):  # recursion extends
            self._bind_loss_input(entry, use, given, site[2])
        for param, call, value in list(self.param_criteria.get(node, ())):
            self._bind_criterion(param, call, value, given, site[2])
        return result

    def _bind_loss_input(
        self,
        entry: Param | Called,
        use: LossUse,
        given: Callable[[Param], Value],
        scope: Scope,
    ) -> None:
        """A loss whose input is a parameter (or what calling one returns): judge
        the argument of this call site (the forward output of a model passed in)."""
        param = entry if isinstance(entry, Param) else entry.param
        value = given(param)
        if isinstance(entry, Called):
            if isinstance(value, Param) and value.function is scope.node:
                value = Called(value)  # the caller's own parameter: its callers
            else:
                value = self.output_of(value)
        if isinstance(value, Tensor):
            self.analysis.uses.append(replace(use, value=value, single_use=False))
        elif isinstance(value, Param | Called):
            caller = (value if isinstance(value, Param) else value.param).function
            if caller is scope.node:
                entries = self.param_losses.setdefault(caller, [])
                if (value, use) not in entries:
                    entries.append((value, use))

    def _bind_criterion(
        self,
        param: Param,
        call: cst.Call,
        value: Value,
        given: Callable[[Param], Value],
        scope: Scope,
    ) -> None:
        """A parameter called on a tensor is a loss when the call site passes one."""
        loss = given(param)
        if isinstance(value, Called):
            value = self.output_of(given(value.param))
        if isinstance(loss, LossObject) and isinstance(value, Tensor):
            named_by = loss.ctor.func
            attribute = named_by if isinstance(named_by, cst.Attribute) else None
            self.analysis.uses.append(LossUse(loss.loss, call, value, attribute, False))
        elif isinstance(loss, Param) and loss.function is scope.node:
            entry: Criterion = (loss, call, value)
            entries = self.param_criteria.setdefault(loss.function, [])
            if entry not in entries:
                entries.append(entry)

    def output_of(self, value: Value) -> Value:
        """What calling ``value`` returns when it is a model of the file."""
        if isinstance(value, Instance):
            return self.method_result(value.cls, "forward")[1]
        return None

    def factory_result(self, value: Value) -> None:
        """A factory returning ``(model, batch, loss_fn)`` or a dict with ``model`` and
        ``loss_fn`` (the nnhealth and graph-mode convention) joins a model of the
        file to its loss: the model's forward output is the loss's input."""
        if not self.record or not isinstance(value, Items):
            return
        if value.keys is None and len(value.values) == 3:
            model, loss = value.values[0], value.values[2]
        elif value.keys is not None and {"model", "loss_fn"} <= set(value.keys):
            named = dict(zip(value.keys, value.values, strict=True))
            model, loss = named["model"], named["loss_fn"]
        else:
            return
        output = self.output_of(model)
        if isinstance(loss, LossObject) and isinstance(output, Tensor):
            named_by = loss.ctor.func
            attribute = named_by if isinstance(named_by, cst.Attribute) else None
            self.analysis.uses.append(
                LossUse(loss.loss, loss.ctor, output, attribute, False)
            )

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
