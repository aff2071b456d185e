"""NNL401: post-LN residual blocks (``norm(x + f(x))``) stacked deeply."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from nnlint import norm_support as ns
from nnlint.rules.base import Invalid, Rule, RuleContext

# The original Transformer trained 6 post-LN layers (with warm-up); deeper post-LN
# stacks are where divergence without warm-up is documented (see the docstring).
MAX_POST_LN_DEPTH = 6
_FUNCTIONAL_NORMS = frozenset(
    {"torch.nn.functional.layer_norm", "torch.nn.functional.rms_norm"}
)
# Reading only these from a tensor does not make a value depend on its contents.
_SHAPE_ATTRS = frozenset({"shape", "device", "dtype", "ndim", "size", "dim"})


class _Names(cst.CSTVisitor):
    """Variables an expression reads (not attribute names, keywords or shapes)."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.has_call = False

    def visit_Name(self, node: cst.Name) -> None:
        if node.value != "self":
            self.names.add(node.value)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        if node.attr.value not in _SHAPE_ATTRS:
            node.value.visit(self)
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        node.value.visit(self)
        return False

    def visit_Call(self, node: cst.Call) -> None:
        self.has_call = True


def _reads(expr: cst.CSTNode) -> _Names:
    names = _Names()
    expr.visit(names)
    return names


def _addends(expr: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
        return [*_addends(expr.left), *_addends(expr.right)]
    return [expr]


@dataclass(frozen=True)
class _Value:
    """What a local variable holds: the variables it was computed from."""

    depends_on: frozenset[str]
    computed: bool  # went through a call (a module or function), not just arithmetic
    residual: bool  # is itself a residual sum ``x + f(x)``


class _MethodScan:
    """Walks one method in order, tracking locals, and collects post-LN norm calls."""

    def __init__(self, norms: set[str], resolve: ns.Resolve) -> None:
        self.norms = norms
        self.resolve = resolve
        self.values: dict[str, _Value] = {}
        self.sites: list[cst.Call] = []

    def run(self, body: cst.BaseSuite) -> list[cst.Call]:
        self._suite(body)
        return self.sites

    def _suite(self, suite: cst.BaseSuite) -> None:
        statements = suite.body if isinstance(suite, cst.IndentedBlock) else [suite]
        for statement in statements:
            if isinstance(statement, cst.SimpleStatementLine | cst.SimpleStatementSuite):
                for small in statement.body:
                    self._small(small)
            elif isinstance(statement, cst.BaseCompoundStatement) and not isinstance(
                statement, cst.FunctionDef | cst.ClassDef
            ):
                for block in _blocks(statement):
                    self._suite(block)

    def _small(self, small: cst.BaseSmallStatement) -> None:
        calls: list[cst.Call] = []
        small.visit(_CallCollector(calls))
        for call in calls:
            if self._is_norm(call) and self._is_residual_input(ns.first_arg(call)):
                self.sites.append(call)
        if isinstance(small, cst.Assign):
            value = self._describe(small.value)
            for target in small.targets:
                for name in _target_names(target.target):
                    self.values[name] = value

    def _is_norm(self, call: cst.Call) -> bool:
        attr = ns.is_self_attr(call.func)
        if attr is not None:
            return attr in self.norms
        return self.resolve(call.func) in _FUNCTIONAL_NORMS

    def _is_residual_input(self, arg: cst.BaseExpression | None) -> bool:
        if isinstance(arg, cst.Name):
            known = self.values.get(arg.value)
            return known is not None and known.residual
        return arg is not None and self._is_residual(arg)

    def _describe(self, expr: cst.BaseExpression, residual: bool = True) -> _Value:
        reads = _reads(expr)
        depends = set(reads.names)
        computed = reads.has_call
        for name in reads.names:
            known = self.values.get(name)
            if known is not None:
                depends |= known.depends_on
                computed = computed or known.computed
        return _Value(frozenset(depends), computed, residual and self._is_residual(expr))

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


class _CallCollector(cst.CSTVisitor):
    def __init__(self, calls: list[cst.Call]) -> None:
        super().__init__()
        self.calls = calls

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append(node)


def _blocks(node: cst.CSTNode) -> list[cst.BaseSuite]:
    """The statement blocks of a compound statement (``elif``/``else``/handlers too)."""
    found: list[cst.BaseSuite] = []
    for child in node.children:
        if isinstance(child, cst.BaseSuite):
            found.append(child)
        elif isinstance(
            child, cst.If | cst.Else | cst.ExceptHandler | cst.ExceptStarHandler | cst.Finally
        ):
            found.extend(_blocks(child))
    return found


def _target_names(target: cst.BaseExpression) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, cst.Tuple | cst.List):
        return [name for element in target.elements for name in _target_names(element.value)]
    return []
