"""Post-LN norm calls in a method (NNL401): ``norm(x + f(x))`` and its variants.

A method is walked in order while tracking what each local variable was computed
from, so ``h = h + self.mlp(h)`` followed by ``h = self.norm(h)`` is recognised as
well as the nested form, and a sum accumulated by a loop (the output of a stack) is
not mistaken for a residual add.

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

from collections.abc import Callable
from dataclasses import dataclass, replace

import libcst as cst

from nnlint.analysis.cst_syntax import Resolve, first_arg, is_self_attr
from nnlint.analysis.layer_kinds import FUNCTIONAL_PASSTHROUGH
from nnlint.analysis.walk import iter_children

EMPTY: frozenset[str] = frozenset()
# Functional norms (module norms are recognised by their constructor kind).
FUNCTIONAL_NORMS = frozenset(
    {"torch.nn.functional.layer_norm", "torch.nn.functional.rms_norm"}
)
# Reading only these from a tensor does not make a value depend on its contents.
_SHAPE_ATTRS = frozenset({"shape", "device", "dtype", "ndim", "size", "dim"})


def _reads(expr: cst.CSTNode) -> tuple[set[str], bool]:
    """Variables an expression reads (not attribute names, keywords or shapes), and
    whether it calls anything."""
    names: set[str] = set()
    has_call = False
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            if node.value != "self":
                names.add(node.value)
        elif isinstance(node, cst.Attribute):
            if node.attr.value not in _SHAPE_ATTRS:
                stack.append(node.value)
        elif isinstance(node, cst.Arg):
            stack.append(node.value)
        else:
            has_call = has_call or isinstance(node, cst.Call)
            stack.extend(iter_children(node))
    return names, has_call


def _addends(expr: cst.BaseExpression) -> list[cst.BaseExpression]:
    """``[a, b, c]`` for ``a + b + c`` (iterative: long chains are not deep calls)."""
    found: list[cst.BaseExpression] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
            stack.extend((node.right, node.left))
        else:
            found.append(node)
    return found


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


class MethodScan:
    """Walks one method in order, tracking locals, and collects post-LN norm calls."""

    def __init__(
        self, norms: set[str], resolve: Resolve, passthrough: frozenset[str] = EMPTY
    ) -> None:
        self.norms = norms
        # ``self.X`` activations/dropout the norm's output may go through and still
        # be the stream (``x = self.act(self.norm(x + f(x)))``).
        self.passthrough = passthrough
        self.resolve = resolve
        self.values: dict[str, _Value] = {}
        self.pending: list[_Candidate] = []
        self.sums = 0

    def run(self, body: cst.BaseSuite) -> list[cst.Call]:
        self._suite(body)
        return [candidate.call for candidate in self.pending]

    def _suite(self, suite: cst.BaseSuite) -> None:
        statements = suite.body if isinstance(suite, cst.IndentedBlock) else [suite]
        for statement in statements:
            if isinstance(
                statement, cst.SimpleStatementLine | cst.SimpleStatementSuite
            ):
                for small in statement.body:
                    self._small(small)
            elif isinstance(statement, cst.BaseCompoundStatement) and not isinstance(
                statement, cst.FunctionDef | cst.ClassDef
            ):
                self._read(_header_reads(statement), assigned=set())
                before = dict(self.values)
                for block in _blocks(statement):
                    self._suite(block)
                if isinstance(statement, cst.For | cst.While):
                    self._forget_loop_sums(before)

    def _forget_loop_sums(self, before: dict[str, _Value]) -> None:
        """A sum accumulated by a loop is the output of a stack of blocks: a norm
        after the loop is a final norm, not a post-LN block."""
        for name, value in self.values.items():
            if value.residual and before.get(name) is not value:
                self.values[name] = replace(value, residual=False)

    def _small(self, small: cst.BaseSmallStatement) -> None:
        targets = _assigned(small)
        self._read(_statement_reads(small), targets)
        for call in _outputs(small, self._passes):
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
        names, computed = _reads(expr)
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
        addends = _addends(expr)
        for skip in addends:
            if not isinstance(skip, cst.Name):
                continue
            for branch in addends:
                if branch is skip:
                    continue
                value = self._describe(branch, residual=False)
                if value.computed and skip.value in value.depends_on:
                    return True
        return False


def _blocks(node: cst.CSTNode) -> list[cst.BaseSuite]:
    """The statement blocks of a compound statement (``elif``/``else``/handlers too)."""
    found: list[cst.BaseSuite] = []
    for child in iter_children(node):
        if isinstance(child, cst.BaseSuite):
            found.append(child)
        elif isinstance(
            child,
            cst.If | cst.Else | cst.ExceptHandler | cst.ExceptStarHandler | cst.Finally,
        ):
            found.extend(_blocks(child))
    return found


def _target_names(target: cst.BaseExpression) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, cst.Tuple | cst.List):
        return [
            name for element in target.elements for name in _target_names(element.value)
        ]
    return []


def _assigned(small: cst.BaseSmallStatement) -> set[str]:
    if isinstance(small, cst.Assign):
        return {n for t in small.targets for n in _target_names(t.target)}
    if isinstance(small, cst.AnnAssign | cst.AugAssign):
        return set(_target_names(small.target))
    return set()


def _statement_reads(small: cst.BaseSmallStatement) -> set[str]:
    if isinstance(small, cst.Assign):
        return _reads(small.value)[0]
    if isinstance(small, cst.AnnAssign):
        return _reads(small.value)[0] if small.value is not None else set()
    return _reads(small)[0]  # AugAssign reads its target too


def _header_reads(statement: cst.CSTNode) -> set[str]:
    """Variables read by a compound statement's own header (``if``/``for``/``with``),
    not the names it binds (``for x in ...``, ``with ... as y``)."""
    if isinstance(statement, cst.If | cst.While):
        return _reads(statement.test)[0]
    if isinstance(statement, cst.For):
        return _reads(statement.iter)[0]
    if isinstance(statement, cst.With):
        return {n for item in statement.items for n in _reads(item.item)[0]}
    return set()


def _outputs(
    small: cst.BaseSmallStatement, passes: Callable[[cst.Call], bool]
) -> list[cst.Call]:
    """Calls whose result *is* the statement's value (assigned or returned), seen
    through arithmetic (``n(x) * (1 + s) + b``), method calls on it (``n(x).float()``),
    tuple elements and pass-through calls (activations, dropout); not calls whose
    result is another call's argument (a branch)."""
    if isinstance(small, cst.Assign | cst.Return) and small.value is not None:
        stack = [small.value]
    else:
        return []
    found: list[cst.Call] = []
    while stack:
        node = stack.pop()
        if isinstance(node, cst.BinaryOperation):
            stack.extend((node.left, node.right))
        elif isinstance(node, cst.UnaryOperation):
            stack.append(node.expression)
        elif isinstance(node, cst.Tuple):
            stack.extend(element.value for element in node.elements)
        elif isinstance(node, cst.Call):
            found.append(node)
            if passes(node) and (inner := first_arg(node)) is not None:
                stack.append(inner)
            elif isinstance(node.func, cst.Attribute) and not is_self_attr(node.func):
                stack.append(node.func.value)  # the receiver of a method call
    return found
