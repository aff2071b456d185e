"""Calls in the loss-wiring walk: what a call returns, and the loss calls recorded.

A callee is resolved to a qualified name when it is imported (the tables in
:mod:`nnlint.analysis.dataflow.vocabulary`), else followed into the file:
``self.method()``, ``super().method()``, ``Model.method()``, calling an instance, a
module or loss object, or a nested function. Tensor methods (``x.softmax(1)``,
``x.view(...)``) come last. A loss call appends a
:class:`~nnlint.analysis.dataflow.values.LossUse` in the recording pass.
"""

from __future__ import annotations

from dataclasses import replace

import libcst as cst

from nnlint.analysis.dataflow.expressions import ExpressionWalker
from nnlint.analysis.dataflow.origins import argument, call_origin, module_origin
from nnlint.analysis.dataflow.state import Scope
from nnlint.analysis.dataflow.values import (
    Called,
    Instance,
    Kind,
    Loss,
    LossObject,
    LossUse,
    ModuleObject,
    Origin,
    Param,
    Returned,
    Tensor,
    Value,
)
from nnlint.analysis.dataflow.vocabulary import (
    FUNCTION_KINDS,
    LOSS_FUNCTIONS,
    LOSS_MODULES,
    METHOD_KINDS,
    MODULE_KINDS,
    PASS_FUNCTIONS,
    PASS_METHODS,
    PASS_MODULES,
)


def _is_super(node: cst.BaseExpression) -> bool:
    return (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Name)
        and node.func.value == "super"
    )


class CallWalker(ExpressionWalker):
    def call(self, node: cst.Call, scope: Scope) -> Value:
        values = [self.expr(arg.value, scope) for arg in node.args]
        func = node.func
        qualified = self.resolve(func, scope)
        if qualified is not None:
            return self.call_qualified(node, qualified, values, scope)
        if isinstance(func, cst.Attribute):
            return self.call_attribute(node, func, values, scope)
        if isinstance(func, cst.Name):
            name = func.value
            if name == "self" and scope.owner is not None:
                site = (node, values, scope)
                return self.method_result(scope.owner, "forward", site)[1]
            if name not in scope.env and name not in self.globals:
                if name in self.classes:
                    return Instance(name)
                if name in self.functions:
                    return self.invoke(
                        self.functions[name], None, (node, values, scope)
                    )
                return None
        return self.call_value(node, self.expr(func, scope), values, scope)

    def call_value(
        self, node: cst.Call, callee: Value, values: list[Value], scope: Scope
    ) -> Value:
        if isinstance(callee, Param) and callee.function is scope.node:
            return self.call_parameter(node, callee, values)
        if isinstance(callee, ModuleObject):
            return Tensor(callee.kind, module_origin(callee, node))
        if isinstance(callee, LossObject):
            named_by = callee.ctor.func
            attribute = named_by if isinstance(named_by, cst.Attribute) else None
            return self.record_loss(callee.loss, node, attribute, values, scope)
        if isinstance(callee, Instance):
            return self.method_result(callee.cls, "forward", (node, values, scope))[1]
        if isinstance(callee, Returned):
            return callee.value
        return None

    def call_parameter(
        self, node: cst.Call, param: Param, values: list[Value]
    ) -> Value:
        """``model(x)`` or ``criterion(out, y)`` with the callee passed in: the output
        of a model given at the call sites, or a loss if a call site passes one."""
        first = values[0] if values and node.args[0].keyword is None else None
        if self.record and isinstance(first, Tensor | Called):
            entry = (param, node, first)
            entries = self.param_criteria.setdefault(param.function, [])
            if entry not in entries:
                entries.append(entry)
        return Called(param)

    def call_attribute(
        self, node: cst.Call, func: cst.Attribute, values: list[Value], scope: Scope
    ) -> Value:
        method = func.attr.value
        receiver = func.value
        if isinstance(receiver, cst.Name) and receiver.value == "self" and scope.owner:
            return self.instance_method(scope.owner, method, node, values, scope)
        if _is_super(receiver) and scope.owner:
            for base in self.classes[scope.owner].bases:
                found, result = self.method_result(base, method, (node, values, scope))
                if found:
                    return result
            return None
        if isinstance(receiver, cst.Name) and receiver.value in self.classes:
            if receiver.value not in scope.env and receiver.value not in self.globals:
                site = (node, values, scope)
                return self.method_result(receiver.value, method, site, via_class=True)[
                    1
                ]
        target = self.expr(receiver, scope)
        if isinstance(target, Instance):
            return self.instance_method(target.cls, method, node, values, scope)
        return self.tensor_method(node, method, receiver, target)

    def instance_method(
        self, cls: str, method: str, node: cst.Call, values: list[Value], scope: Scope
    ) -> Value:
        """``obj.method(...)`` on an object of a class in the file: the method it
        defines or inherits, else a callable attribute (``self.head(x)``)."""
        found, result = self.method_result(cls, method, (node, values, scope))
        if found:
            return result
        return self.call_value(node, self.attribute(cls, method), values, scope)

    def tensor_method(
        self, node: cst.Call, method: str, receiver: cst.BaseExpression, target: Value
    ) -> Value:
        """``x.softmax(1)``, ``x.view(-1, c)``, ``probs.log()``: tensor methods."""
        if method in METHOD_KINDS:
            return Tensor(METHOD_KINDS[method], call_origin(node, receiver, 0))
        if method in PASS_METHODS:
            return target if isinstance(target, Tensor | Called) else None
        if method == "log" and isinstance(target, Tensor) and target.kind is Kind.PROBS:
            return Tensor(Kind.LOG_PROBS, Origin(node))
        return None

    def call_qualified(
        self, node: cst.Call, qualified: str, values: list[Value], scope: Scope
    ) -> Value:
        if qualified in FUNCTION_KINDS:
            kind, dim_at = FUNCTION_KINDS[qualified]
            return Tensor(kind, call_origin(node, argument(node, 0, "input"), dim_at))
        if qualified in LOSS_FUNCTIONS:
            named_by = node.func if isinstance(node.func, cst.Attribute) else None
            return self.record_loss(
                LOSS_FUNCTIONS[qualified], node, named_by, values, scope
            )
        if qualified in MODULE_KINDS:
            return ModuleObject(MODULE_KINDS[qualified], node)
        if qualified in LOSS_MODULES:
            return LossObject(LOSS_MODULES[qualified], node)
        if qualified == "torch.nn.Sequential":
            return self.sequential(node, values, scope)
        first = values[0] if values and node.args[0].keyword is None else None
        if qualified in PASS_FUNCTIONS:
            return first if isinstance(first, Tensor | Called) else None
        if qualified == "torch.log" and isinstance(first, Tensor):
            return (
                Tensor(Kind.LOG_PROBS, Origin(node))
                if first.kind is Kind.PROBS
                else None
            )
        return None

    def sequential(self, node: cst.Call, values: list[Value], scope: Scope) -> Value:
        """An ``nn.Sequential`` behaves like its last element that changes anything."""
        for index in reversed(range(len(node.args))):
            arg, value = node.args[index], values[index]
            if arg.star or arg.keyword is not None:
                return None
            if isinstance(value, ModuleObject):
                if value.container is None:
                    return replace(value, container=node, element=index)
                return value
            if isinstance(value, Instance):
                return value
            inner = arg.value
            if not (
                isinstance(inner, cst.Call)
                and self.resolve(inner.func, scope) in PASS_MODULES
            ):
                return None
        return None

    def record_loss(
        self,
        loss: Loss,
        node: cst.Call,
        named_by: cst.Attribute | None,
        values: list[Value],
        scope: Scope,
    ) -> Value:
        if not self.record:
            return None
        given = argument(node, 0, "input")
        value: Value = None
        for arg, arg_value in zip(node.args, values, strict=True):
            if given is not None and arg.value is given:
                value = arg_value
        single = False
        if isinstance(value, Tensor):
            origin = value.origin.node
            single = given is origin or (
                isinstance(given, cst.Name)
                and scope.sources.get(given.value) is origin
                and scope.counts()[given.value] == 2
            )
        use = LossUse(loss, node, value, named_by, single)
        self.analysis.uses.append(use)
        if isinstance(value, Param) and value.function is scope.node:
            self.param_losses.setdefault(value.function, []).append((value, use))
        elif isinstance(value, Called) and value.param.function is scope.node:
            self.param_losses.setdefault(value.param.function, []).append((value, use))
        return None
