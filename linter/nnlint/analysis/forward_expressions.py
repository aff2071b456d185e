"""The expression half of the forward pass (:mod:`.forward_flow`): what an expression
evaluates to (a submodule chain), the submodule applications, residual adds, in-place
calls and ``.data`` reads it contains, and what a local name is bound to."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from nnlint.analysis.data_reads import DataReads
from nnlint.analysis.forward_records import Add, Application, Binding, Flow
from nnlint.analysis.inplace import Overwrites, inplace_call
from nnlint.analysis.layer_kinds import FUNCTIONAL_PASSTHROUGH, RESHAPE_METHODS
from nnlint.analysis.method_syntax import self_attr
from nnlint.analysis.statement_reads import SHAPE_ATTRS
from nnlint.analysis.walk import child_expressions

if TYPE_CHECKING:
    from nnlint.analysis.module_model import ClassModel, Resolve


_SAME_VALUE_METHODS = frozenset("contiguous float half double to type_as clone".split())


class ExpressionFlow:
    """The state of the forward pass and how it evaluates expressions; the statement
    walk is :class:`~nnlint.analysis.forward_flow.ForwardFlow`."""

    def __init__(self, model: ClassModel, resolve: Resolve) -> None:
        self.model = model
        self.resolve = resolve
        self.env: dict[str, Binding] = {}
        self.adds: list[Add] = []
        self.applications: list[Application] = []
        self.overwrites = Overwrites()
        self.data_reads = DataReads(resolve)  # NNL502
        self.owner: str | None = None
        self._guard = 0
        self._roots = 0
        self._statement_call: cst.BaseExpression | None = None
        self._unread = 0  # > 0: names evaluated are not reads (lambda, ``x +=``)
        self._same_tensor: dict[cst.Call, int] = {}  # in-place call -> operand
        # Following ``self.helper(x)`` (:meth:`follow`): the methods being walked,
        # the callers' bindings, each followed call's value, the callee's returns.
        self._stack: list[cst.FunctionDef] = []
        self._outer: list[dict[str, Binding]] = []
        self._results: dict[cst.Call, Binding] = {}
        self._returns: list[Binding] | None = None

    def fresh(self, tensorish: bool = False, tensor: int = 0) -> Binding:
        self._roots += 1
        return Binding(Flow(self._roots), tensorish, tensor=tensor or self._roots)

    def follow(self, call: cst.Call) -> Binding | None:
        """The value of ``self.helper(...)`` with the helper's body walked, if it is
        followed (:class:`~nnlint.analysis.forward_flow.ForwardFlow`)."""
        return None

    def _tensors(self) -> dict[str, int]:
        """The tensor each name refers to, the callers' names included: a helper
        that overwrites its argument in place overwrites the caller's tensor."""
        held: dict[str, int] = {}
        for env in (*self._outer, self.env):
            held.update((name, binding.tensor) for name, binding in env.items())
        return held

    def _bind(self, target: cst.BaseExpression, binding: Binding | None) -> None:
        if type(target) is cst.Name:
            self.env[target.value] = binding or self.fresh()
        elif type(target) is cst.Tuple or type(target) is cst.List:
            for element in target.elements:
                self._bind(element.value, None)

    def _value(self, value: cst.BaseExpression) -> Binding:
        if type(value) is cst.Name and value.value in self.env:
            self.expr(value)  # a read
            return self.env[value.value]  # an alias: the very same value
        flow = self.expr(value)
        if type(value) is cst.Call and value in self._results:
            return self._results.pop(value)  # a followed helper's return value
        # The result of an in-place call is its operand's tensor.
        tensor = self._same_tensor.get(value, 0) if type(value) is cst.Call else 0
        tensorish = type(value) is cst.Call and self._tensor_call(value)
        source = None
        if type(value) is cst.Call and value.args and self._submodule(value.func):
            name = local_name(value.args[0].value)
            if name in self.env:
                source = (name, self.env[name])
        fresh = self.fresh(tensor=tensor)
        if flow is None:
            return Binding(fresh.flow, tensorish, source, fresh.tensor)
        return Binding(flow, tensorish or bool(flow.steps), source, fresh.tensor)

    def _tensor_call(self, call: cst.Call) -> bool:
        qualified = self.resolve(call.func) or ""
        return self._submodule(call.func) is not None or qualified.startswith("torch.")

    def _submodule(self, func: cst.BaseExpression) -> str | None:
        attr = self_attr(func, self.owner)
        if attr is None or attr in self.model.methods:
            return None
        return attr

    # -- expressions
    def expr(self, node: cst.BaseExpression) -> Flow | None:  # noqa: C901
        if type(node) is cst.Name:
            binding = self.env.get(node.value)
            if not self._unread:
                self.overwrites.read(node.value, binding.tensor if binding else None)
            return binding.flow if binding else None
        if type(node) is cst.Call:
            flow = self._call(node)
            self._inplace(node)
            return flow
        if type(node) is cst.Lambda:  # its body runs later, if ever
            self._unread += 1
            self.data_reads.quiet += 1
            self.expr(node.body)
            self.data_reads.quiet -= 1
            self._unread -= 1
            return None
        if type(node) is cst.BinaryOperation:
            left, right = self.expr(node.left), self.expr(node.right)
            if type(node.operator) is cst.Add:
                self._record_add(node, node.left, node.right, left, right)
            elif type(node.operator) is cst.MatrixMultiply:
                weight = self_attr(node.right, self.owner)
                if weight is not None and left is not None:
                    self.applications.append(Application(weight, left, node))
                    return left.then(weight)
            return None
        if type(node) is cst.IfExp:
            self.expr(node.test)
            self._guard += 1
            self.expr(node.body)
            self.expr(node.orelse)
            self._guard -= 1
            return None
        if type(node) is cst.Attribute:
            self.data_reads.attribute(node)
            if node.attr.value in SHAPE_ATTRS:
                self._metadata(node.value)
                return None
        elif type(node) is cst.Subscript:
            self.data_reads.subscript(node)
        for child in child_expressions(node):
            self.expr(child)
        return None

    def _call(self, call: cst.Call) -> Flow | None:
        followed = self.follow(call)
        if followed is not None:
            return followed.flow
        args = [a.value for a in call.args]
        flows = [self.expr(a) for a in args]
        first = flows[0] if flows and call.args[0].keyword is None else None
        attr = self._submodule(call.func)
        if attr is not None:
            self.applications.append(Application(attr, first, call))
            return first.then(attr) if first else None
        qualified = self.resolve(call.func)
        if qualified in FUNCTIONAL_PASSTHROUGH:
            return first
        if qualified == "torch.nn.functional.linear" and len(args) > 1:
            weight = self_attr(args[1], self.owner)
            if weight is not None and first is not None:
                self.applications.append(Application(weight, first, call))
                return first.then(weight)
            return None
        if type(call.func) is cst.Attribute and qualified is None:
            self.data_reads.attribute(call.func)
            if call.func.attr.value in SHAPE_ATTRS:
                self._metadata(call.func.value)
                return None
            receiver = self.expr(call.func.value)
            if receiver is not None and call.func.attr.value in RESHAPE_METHODS:
                return receiver.then("~")
            if receiver is not None and call.func.attr.value in _SAME_VALUE_METHODS:
                return receiver
        return None

    def _metadata(self, tensor: cst.BaseExpression) -> None:
        """``tensor.shape``, ``tensor.size(0)``, ...: an in-place operation changes
        values, never shape, dtype or device, so this is no stale read (NNL305)."""
        self._unread += 1
        self.expr(tensor)
        self._unread -= 1

    def _inplace(self, call: cst.Call) -> None:
        """Record what ``call`` overwrites (after its arguments were read)."""
        found = inplace_call(call, self.model, self.owner, self.resolve)
        if found is None or type(found.operand) is not cst.Name:
            return
        name = found.operand.value
        explicit = found.explicit or call is self._statement_call
        self.overwrites.mutate(call, name, self._tensors(), explicit, found.fix)
        binding = self.env.get(name)
        if binding is not None:
            self._same_tensor[call] = binding.tensor

    def _record_add(
        self,
        node: cst.BinaryOperation | cst.AugAssign,
        left: cst.BaseExpression,
        right: cst.BaseExpression,
        left_flow: Flow | None,
        right_flow: Flow | None,
    ) -> None:
        names = (local_name(left) or "", local_name(right) or "")
        bindings = (self.env.get(names[0]), self.env.get(names[1]))
        flows, env = (left_flow, right_flow), dict(self.env)
        self.adds.append(Add(node, left, right, flows, bindings, self._guard > 0, env))


def local_name(node: cst.BaseExpression) -> str | None:
    """``x`` for the bare name ``x``, else None."""
    return node.value if type(node) is cst.Name else None
