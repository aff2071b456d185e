"""Forward data flow (:class:`ForwardFlow`); ``ClassModel.flow`` runs it once per
method and keeps the result. In-place effects are judged in :mod:`.inplace`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from nnlint.analysis.cst_syntax import assign_targets, source_text
from nnlint.analysis.forward_records import Add, Application, Binding, Flow
from nnlint.analysis.inplace import Overwrites, inplace_call
from nnlint.analysis.layer_kinds import FUNCTIONAL_PASSTHROUGH, RESHAPE_METHODS
from nnlint.analysis.method_syntax import self_attr, self_name
from nnlint.analysis.walk import child_expressions

if TYPE_CHECKING:
    from nnlint.analysis.module_model import ClassModel, Resolve
    from nnlint.analysis.residual_sums import ResidualSums


_SAME_VALUE_METHODS = frozenset("contiguous float half double to type_as clone".split())


class ForwardFlow:
    """One linear pass over a forward method: which submodule chain produced each name,
    every ``+`` with the chains of its operands, every submodule application, and every
    in-place operation with the first later read of a name still referring to the
    overwritten tensor; every statement also goes to the method's
    :class:`~nnlint.analysis.residual_sums.ResidualSums` (post-LN norms), if any.

    Branches are walked in order, as if all were taken (a later assignment wins): this
    is enough for "what does this add combine?" and never invents a chain."""

    def __init__(
        self, model: ClassModel, resolve: Resolve, sums: ResidualSums | None = None
    ) -> None:
        self.model = model
        self.resolve = resolve
        # Residual sums and post-LN norms (NNL401), fed statement by statement.
        self.sums = sums
        self.env: dict[str, Binding] = {}
        self.adds: list[Add] = []
        self.applications: list[Application] = []
        self.overwrites = Overwrites()
        self.owner: str | None = None
        self._guard = 0
        self._roots = 0
        self._statement_call: cst.BaseExpression | None = None
        self._unread = 0  # > 0: names evaluated are not reads (lambda, ``x +=``)
        self._same_tensor: dict[cst.Call, int] = {}  # in-place call -> operand

    def fresh(self, tensorish: bool = False, tensor: int = 0) -> Binding:
        self._roots += 1
        return Binding(Flow(self._roots), tensorish, tensor=tensor or self._roots)

    def run(self, function: cst.FunctionDef) -> ForwardFlow:
        self.owner = self_name(function)
        for param in function.params.params[1:]:
            hint = param.annotation
            text = "" if hint is None else source_text(hint.annotation)
            self.env[param.name.value] = self.fresh(not text or "Tensor" in text)
        self._suite(function.body)
        return self

    @property
    def post_ln(self) -> list[cst.Call]:
        """Norm calls whose output replaces a residual sum (only in classes that
        call a norm: ``ClassModel.flow`` gives those a :class:`ResidualSums`)."""
        return self.sums.post_ln if self.sums is not None else []

    # -- statements
    def _suite(self, suite: cst.CSTNode) -> None:
        if type(suite) is cst.SimpleStatementSuite:
            if self.sums is not None:  # ``if c: x = f(x)``: only the sums read these
                for small in suite.body:
                    self.sums.small(small)
            return
        for statement in getattr(suite, "body", ()):
            self._statement(statement)

    def _statement(self, statement: cst.CSTNode) -> None:
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                self._small(small)
                if self.sums is not None:
                    self.sums.small(small)
            return
        sums = self.sums
        if sums is None:
            self._compound(statement)
            return
        before = sums.header(statement)
        self._compound(statement)
        if isinstance(statement, cst.For | cst.While):
            sums.loop_done(before)

    def _compound(self, statement: cst.CSTNode) -> None:
        if isinstance(statement, cst.If | cst.While | cst.For):
            self._branches(statement)
        elif isinstance(statement, cst.With):
            for item in statement.items:
                self.expr(item.item)
            self._suite(statement.body)
        elif isinstance(statement, cst.Try | cst.TryStar):
            self._suite(statement.body)
            for handler in statement.handlers:
                self._suite(handler.body)
            for block in (statement.orelse, statement.finalbody):
                if block is not None:
                    self._suite(block.body)

    def _branches(self, statement: cst.If | cst.While | cst.For) -> None:
        """Walk both ways; a name bound differently on the two ways holds "unknown"."""
        if isinstance(statement, cst.For):
            self.expr(statement.iter)
        else:
            self.expr(statement.test)
        before = dict(self.env)
        self._guard += 1
        if isinstance(statement, cst.For):
            self._bind(statement.target, None)
        self._suite(statement.body)
        taken, self.env = self.env, dict(before)
        if isinstance(statement.orelse, cst.If):  # ``elif``
            self._branches(statement.orelse)
        elif statement.orelse is not None:
            self._suite(statement.orelse.body)
        self._guard -= 1
        for name in set(taken) | set(self.env):
            one, other = taken.get(name), self.env.get(name)
            if one is not other:
                tensorish = any(b is not None and b.tensorish for b in (one, other))
                self.env[name] = self.fresh(tensorish)

    def _small(self, small: cst.CSTNode) -> None:
        if isinstance(small, cst.Assign | cst.AnnAssign):
            if small.value is None:
                return
            binding = self._value(small.value)
            targets = assign_targets(small)
            self.overwrites.rebound({t.value for t in targets if type(t) is cst.Name})
            for target in targets:
                self._bind(target, binding)
        elif isinstance(small, cst.AugAssign):
            self._augmented(small)
        elif isinstance(small, cst.Expr | cst.Return):
            if isinstance(small, cst.Expr):
                self._statement_call = small.value  # run for its in-place effect
            if small.value is not None:
                self.expr(small.value)
        else:  # ``assert``, ``del``, ``raise``...: reads only
            for child in child_expressions(small):
                self.expr(child)

    def _augmented(self, small: cst.AugAssign) -> None:
        """``x += y`` adds like ``x = x + y``; on a tensor it overwrites ``x``'s
        tensor in place, so ``x`` keeps referring to the same tensor."""
        self._unread += 1
        left = self.expr(small.target)
        self._unread -= 1
        right = self.expr(small.value)
        if isinstance(small.operator, cst.AddAssign):
            self._record_add(small, small.target, small.value, left, right)
        name = _name(small.target)
        old = self.env.get(name or "")
        if name is not None and old is not None and old.tensorish:
            self.overwrites.mutate(small, name, self._tensors(), explicit=True)
        tensor = old.tensor if old is not None else 0
        self._bind(small.target, self.fresh(old is not None and old.tensorish, tensor))

    def _tensors(self) -> dict[str, int]:
        return {name: binding.tensor for name, binding in self.env.items()}

    def _bind(self, target: cst.BaseExpression, binding: Binding | None) -> None:
        if isinstance(target, cst.Name):
            self.env[target.value] = binding or self.fresh()
        elif isinstance(target, cst.Tuple | cst.List):
            for element in target.elements:
                self._bind(element.value, None)

    def _value(self, value: cst.BaseExpression) -> Binding:
        if isinstance(value, cst.Name) and value.value in self.env:
            self.expr(value)  # a read
            return self.env[value.value]  # an alias: the very same value
        flow = self.expr(value)
        # The result of an in-place call is its operand's tensor.
        tensor = self._same_tensor.get(value, 0) if type(value) is cst.Call else 0
        tensorish = isinstance(value, cst.Call) and self._tensor_call(value)
        source = None
        if isinstance(value, cst.Call) and value.args and self._submodule(value.func):
            name = _name(value.args[0].value)
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
        if isinstance(node, cst.Name):
            binding = self.env.get(node.value)
            if not self._unread:
                self.overwrites.read(node.value, binding.tensor if binding else None)
            return binding.flow if binding else None
        if isinstance(node, cst.Call):
            flow = self._call(node)
            self._inplace(node)
            return flow
        if isinstance(node, cst.Lambda):  # its body runs later, if ever
            self._unread += 1
            self.expr(node.body)
            self._unread -= 1
            return None
        if isinstance(node, cst.BinaryOperation):
            left, right = self.expr(node.left), self.expr(node.right)
            if isinstance(node.operator, cst.Add):
                self._record_add(node, node.left, node.right, left, right)
            elif isinstance(node.operator, cst.MatrixMultiply):
                weight = self_attr(node.right, self.owner)
                if weight is not None and left is not None:
                    self.applications.append(Application(weight, left, node))
                    return left.then(weight)
            return None
        if isinstance(node, cst.IfExp):
            self.expr(node.test)
            self._guard += 1
            self.expr(node.body)
            self.expr(node.orelse)
            self._guard -= 1
            return None
        for child in child_expressions(node):
            self.expr(child)
        return None

    def _call(self, call: cst.Call) -> Flow | None:
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
        if isinstance(call.func, cst.Attribute) and qualified is None:
            receiver = self.expr(call.func.value)
            if receiver is not None and call.func.attr.value in RESHAPE_METHODS:
                return receiver.then("~")
            if receiver is not None and call.func.attr.value in _SAME_VALUE_METHODS:
                return receiver
        return None

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
        bindings = (self.env.get(_name(left) or ""), self.env.get(_name(right) or ""))
        flows, env = (left_flow, right_flow), dict(self.env)
        self.adds.append(Add(node, left, right, flows, bindings, self._guard > 0, env))


def _name(node: cst.BaseExpression) -> str | None:
    return node.value if isinstance(node, cst.Name) else None
