"""Forward data flow (:class:`ForwardFlow`); ``ClassModel.flow`` runs it once per
method and keeps the result. This module walks the statements; expressions are
evaluated in :mod:`.forward_expressions`, in-place effects judged in :mod:`.inplace`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import libcst as cst

from nnlint.analysis.cst_syntax import assign_targets, source_text
from nnlint.analysis.data_reads import writes
from nnlint.analysis.forward_calls import followed_method, parameter_of
from nnlint.analysis.forward_expressions import ExpressionFlow, local_name
from nnlint.analysis.forward_records import Binding
from nnlint.analysis.method_syntax import self_name
from nnlint.analysis.walk import child_expressions

if TYPE_CHECKING:
    from nnlint.analysis.module_model import ClassModel, Resolve
    from nnlint.analysis.residual_sums import ResidualSums


class ForwardFlow(ExpressionFlow):
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
        super().__init__(model, resolve)
        # Residual sums and post-LN norms (NNL401), fed statement by statement.
        self.sums = sums

    def run(self, function: cst.FunctionDef) -> ForwardFlow:
        self.owner = self_name(function)
        self.env = self._parameters(function)
        self._stack.append(function)
        self._suite(function.body)
        return self

    def _parameters(self, function: cst.FunctionDef) -> dict[str, Binding]:
        """A fresh value per parameter: a tensor unless annotated otherwise."""
        env = {}
        for param in function.params.params[1:]:
            hint = param.annotation
            text = "" if hint is None else source_text(hint.annotation)
            env[param.name.value] = self.fresh(not text or "Tensor" in text)
        return env

    def follow(self, call: cst.Call) -> Binding | None:
        """Walk the body of the class's own method ``call`` runs with its parameters
        bound to the caller's values (:mod:`.forward_calls`). Its adds, applications
        and in-place operations join this method's records (a rule reports each node
        once however many call sites reach it); its ``.data`` reads do not (NNL502
        judges a receiver by the parameters of the method the read is in, and the
        helper is walked on its own when NNL502 asks), nor do its statements reach the
        residual sums (NNL401 walks every method on its own)."""
        callee = followed_method(call, self.model, self.owner, self._stack)
        if callee is None:
            return None
        values = [self._value(arg.value) for arg in call.args]
        env = self._parameters(callee)
        for name, value in zip(parameter_of(callee, call), values, strict=True):
            if name is not None:
                env[name] = value
        saved = (self.env, self.owner, self.sums, self._returns)
        self._outer.append(self.env)
        self._stack.append(callee)
        self.env, self.owner, self.sums = env, self_name(callee), None
        self._returns = []
        self.data_reads.quiet += 1
        self._suite(callee.body)
        self.data_reads.quiet -= 1
        returns = self._returns
        self._stack.pop()
        self._outer.pop()
        self.env, self.owner, self.sums, self._returns = saved
        result = self._returned(returns)
        self._results[call] = result
        return result

    def _returned(self, returns: list[Binding]) -> Binding:
        """The value of a followed call: what every ``return`` returned if they
        agree, else a fresh value (a tensor if any returned one)."""
        if returns and all(value is returns[0] for value in returns):
            return returns[0]
        return self.fresh(any(value.tensorish for value in returns))

    @property
    def post_ln(self) -> list[cst.Call]:
        """Norm calls whose output replaces a residual sum (only in classes that
        call a norm: ``ClassModel.flow`` gives those a :class:`ResidualSums`)."""
        return self.sums.post_ln if self.sums is not None else []

    # -- statements
    def _suite(self, suite: cst.CSTNode) -> None:
        if type(suite) is cst.SimpleStatementSuite:  # ``if c: x = f(x)``
            self._smalls(suite.body)
            return
        for statement in getattr(suite, "body", ()):
            self._statement(statement)

    def _smalls(self, smalls: Sequence[cst.BaseSmallStatement]) -> None:
        data = self.data_reads
        for small in smalls:
            quiet = writes(small) or type(small) is cst.Assert
            data.quiet += quiet
            self._small(small)
            data.quiet -= quiet
            if self.sums is not None:
                self.sums.small(small)

    def _statement(self, statement: cst.CSTNode) -> None:
        if isinstance(statement, cst.SimpleStatementLine):
            self._smalls(statement.body)
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
            quiet = self.data_reads.disables_grad(statement)
            self.data_reads.quiet += quiet
            for item in statement.items:
                self.expr(item.item)
            self._suite(statement.body)
            self.data_reads.quiet -= quiet
        elif isinstance(statement, cst.Try | cst.TryStar):
            self._suite(statement.body)
            for handler in statement.handlers:
                self._suite(handler.body)
            for block in (statement.orelse, statement.finalbody):
                if block is not None:
                    self._suite(block.body)
        elif isinstance(statement, cst.Match):  # cases walked as if all were taken
            self.expr(statement.subject)
            self._guard += 1
            for case in statement.cases:
                self._suite(case.body)
            self._guard -= 1

    def _branches(self, statement: cst.If | cst.While | cst.For) -> None:
        """Walk both ways; a name bound differently on the two ways holds "unknown"."""
        if isinstance(statement, cst.For):
            self.expr(statement.iter)
        else:
            self.data_reads.test += 1
            self.expr(statement.test)
            self.data_reads.test -= 1
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
        elif isinstance(small, cst.Return) and self._returns is not None:
            value = small.value  # a followed helper's value
            self._returns.append(self.fresh() if value is None else self._value(value))
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
        name = local_name(small.target)
        old = self.env.get(name or "")
        if name is not None and old is not None and old.tensorish:
            self.overwrites.mutate(small, name, self._tensors(), explicit=True)
        tensor = old.tensor if old is not None else 0
        self._bind(small.target, self.fresh(old is not None and old.tensorish, tensor))
