"""Residual sums and the norms that replace them (NNL401: ``norm(x + f(x))``).

The forward pass (:mod:`.forward_flow`) hands every simple statement and compound
header of a method, in order, to a :class:`ResidualSums`, which tracks what each local
variable was computed from (a *set* of names, through any arithmetic), so
``h = h + self.mlp(h)`` followed by ``h = self.norm(h)`` is recognised as well as the
nested form, and a sum accumulated by a loop (the output of a stack) is not mistaken
for a residual add.

Post-LN means the normalised sum *replaces* the residual stream. A norm of a residual
sum is only a candidate when its output is the value of the statement (assigned or
returned, possibly scaled and shifted by arithmetic as in adaptive LayerNorm), not an
argument of another call (``x + self.mlp(self.norm2(x))`` feeds a branch). A
candidate is dropped when the un-normalised sum is read again later, through its own
variable or an alias (``h = self.norm2(x); x = x + self.mlp(h)``, or ``residual = x``
before the norm): the sum then stays the stream and the norm only feeds a branch,
which is pre-LN with more than one sublayer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import libcst as cst

from nnlint.analysis.class_facts import methods
from nnlint.analysis.cst_syntax import Resolve, first_arg, is_self_attr
from nnlint.analysis.layer_kinds import FUNCTIONAL_PASSTHROUGH, PASSTHROUGH
from nnlint.analysis.norm_kinds import LAYER_NORM
from nnlint.analysis.statement_reads import (
    addends,
    assigned,
    header_reads,
    outputs,
    reads,
    statement_reads,
)

if TYPE_CHECKING:
    from nnlint.analysis.module_model import ClassModel

# Functional norms (module norms are recognised by their constructor kind).
FUNCTIONAL_NORMS = frozenset(
    {"torch.nn.functional.layer_norm", "torch.nn.functional.rms_norm"}
)


@dataclass(frozen=True)
class NormVocabulary:
    """The ``self.X`` norms of a class, and the ``self.X`` activations/dropout a
    norm's output may go through and still be the stream
    (``x = self.act(self.norm(x + f(x)))``)."""

    norms: frozenset[str]
    passthrough: frozenset[str]


def norm_vocabulary(model: ClassModel) -> NormVocabulary | None:
    """What counts as a norm in ``model``'s methods; None if it calls none (its
    methods then need no residual-sum tracking)."""
    table = model.table
    norms = frozenset(n for n in table.members if table.kind(n) in LAYER_NORM)
    if not norms and not any(
        model.resolve(call.func) in FUNCTIONAL_NORMS
        for index in model.indexes
        for call in index.calls
    ):
        return None
    passthrough = frozenset(
        name
        for name in table.members
        if table.kind(name) in PASSTHROUGH and table.kind(name) not in LAYER_NORM
    )
    return NormVocabulary(norms, passthrough)


def post_ln_norms(model: ClassModel) -> list[cst.Call]:
    """The norm calls of a class's methods (``__init__`` excluded) whose output
    replaces a residual stream (post-LN), in method order: a query over the forward
    pass of each method."""
    if model.norm_vocabulary is None:
        return []  # no norm in this class: nothing to find
    return [call for fn in methods(model.node) for call in model.flow(fn).post_ln]


@dataclass(frozen=True)
class _Value:
    """What a local variable holds: the variables it was computed from."""

    depends_on: frozenset[str]
    computed: bool  # went through a call (a module or function), not just arithmetic
    residual: bool  # is itself a residual sum ``x + f(x)``
    sum_id: int = 0  # which residual sum (shared by aliases ``residual = x``), 0: none


@dataclass
class _Candidate:
    """A norm of a residual sum whose output may replace the stream, and the other
    variables still holding the un-normalised sum (reading one drops it)."""

    call: cst.Call
    holders: set[str]


Snapshot = dict[str, _Value]


class ResidualSums:
    """The residual-sum state of one method, fed by the forward pass in order."""

    def __init__(self, vocabulary: NormVocabulary, resolve: Resolve) -> None:
        self.norms = vocabulary.norms
        self.passthrough = vocabulary.passthrough
        self.resolve = resolve
        self.values: Snapshot = {}
        self.pending: list[_Candidate] = []
        self.sums = 0

    @property
    def post_ln(self) -> list[cst.Call]:
        """The norm calls still judged post-LN (final once the method is walked)."""
        return [candidate.call for candidate in self.pending]

    def header(self, statement: cst.CSTNode) -> Snapshot:
        """A compound statement's own header was read; returns the state before its
        blocks, for :meth:`loop_done`."""
        self._read(header_reads(statement), assigned=set())
        return dict(self.values)

    def loop_done(self, before: Snapshot) -> None:
        """A sum accumulated by a loop is the output of a stack of blocks: a norm
        after the loop is a final norm, not a post-LN block."""
        for name, value in self.values.items():
            if value.residual and before.get(name) is not value:
                self.values[name] = replace(value, residual=False)

    def small(self, small: cst.BaseSmallStatement) -> None:
        targets = assigned(small)
        self._read(statement_reads(small), targets)
        for call in outputs(small, self._passes):
            if self._is_norm(call) and self._is_residual_input(first_arg(call)):
                holders = self._holders(first_arg(call)) - targets
                self.pending.append(_Candidate(call, holders))
        if isinstance(small, cst.Assign):
            value = self._describe(small.value)
            if value.residual and not value.sum_id:  # a new sum, not an alias
                self.sums += 1
                value = replace(value, sum_id=self.sums)
            for name in targets:
                self.values[name] = value
        elif isinstance(small, cst.AugAssign) and isinstance(small.target, cst.Name):
            self._add_in_place(small.target.value, small)

    def _passes(self, call: cst.Call) -> bool:
        """``call`` hands its first argument on unchanged in shape and meaning."""
        attr = is_self_attr(call.func)
        if attr is not None:
            return attr in self.passthrough
        return self.resolve(call.func) in FUNCTIONAL_PASSTHROUGH

    def _read(self, names: set[str], assigned: set[str]) -> None:
        """Drop candidates whose un-normalised sum is read again (still the stream);
        forget holders overwritten without being read."""
        self.pending = [c for c in self.pending if not c.holders & names]
        for candidate in self.pending:
            candidate.holders -= assigned

    def _holders(self, arg: cst.BaseExpression | None) -> set[str]:
        """The variables holding the sum ``arg`` names (none for a nested sum)."""
        if not isinstance(arg, cst.Name) or arg.value not in self.values:
            return set()
        sum_id = self.values[arg.value].sum_id
        return {n for n, v in self.values.items() if sum_id and v.sum_id == sum_id}

    def _add_in_place(self, name: str, small: cst.AugAssign) -> None:
        """``x += f(x)`` is a residual add like ``x = x + f(x)``."""
        branch = self._describe(small.value, residual=False)
        known = self.values.get(name)
        depends = branch.depends_on | {name} | (known.depends_on if known else set())
        residual = (
            isinstance(small.operator, cst.AddAssign)
            and branch.computed
            and name in branch.depends_on
        )
        computed = branch.computed or (known is not None and known.computed)
        self.sums += residual
        sum_id = self.sums if residual else 0
        self.values[name] = _Value(frozenset(depends), computed, residual, sum_id)

    def _is_norm(self, call: cst.Call) -> bool:
        attr = is_self_attr(call.func)
        if attr is not None:
            return attr in self.norms
        return self.resolve(call.func) in FUNCTIONAL_NORMS

    def _is_residual_input(self, arg: cst.BaseExpression | None) -> bool:
        if isinstance(arg, cst.Name):
            known = self.values.get(arg.value)
            return known is not None and known.residual
        return arg is not None and self._is_residual(arg)

    def _describe(self, expr: cst.BaseExpression, residual: bool = True) -> _Value:
        if isinstance(expr, cst.Name) and expr.value in self.values:
            return self.values[expr.value]  # an alias holds the same value
        names, computed = reads(expr)
        depends = set(names)
        for name in names:
            known = self.values.get(name)
            if known is not None:
                depends |= known.depends_on
                computed = computed or known.computed
        return _Value(
            frozenset(depends), computed, residual and self._is_residual(expr)
        )

    def _is_residual(self, expr: cst.BaseExpression) -> bool:
        """``h + f(h)``: one addend is a variable the other was computed from."""
        terms = addends(expr)
        for skip in terms:
            if not isinstance(skip, cst.Name):
                continue
            for branch in terms:
                if branch is skip:
                    continue
                value = self._describe(branch, residual=False)
                if value.computed and skip.value in value.depends_on:
                    return True
        return False
