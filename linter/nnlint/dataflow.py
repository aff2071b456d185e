"""Where softmax, sigmoid, activations and logits flow in a file: the loss-wiring pass.

The NNL1xx rules all ask one question, "what reaches the input of this loss?", so the
answer is computed once per file (:func:`analyse`) and shared. The analysis is a small
abstract interpreter over the libcst tree, without importing anything:

* every function body is walked in source order with an environment mapping local names
  to abstract values (a tensor of a known :class:`Kind`, a tuple/dict of values, a
  module object, a loss object, an instance of a class defined in the file);
* branches merge *must*-style: a name keeps a value after an ``if`` only when every path
  agrees, so ``return probs if eval else logits`` is unknown, never "softmax";
* ``self.<attr>`` modules come from a first pass over each class's methods; an
  ``nn.Sequential`` has the kind of its last element; calling a model class defined in
  the file yields what its ``forward`` returns (``model.predict(x)``: what ``predict``
  returns);
* every call of a loss records a :class:`LossUse` with the value reaching its *input*
  (never its target, so distillation onto softmax targets is fine); a loss applied to a
  function's parameter is checked again at each call site of that function in the file.

Names are matched after import resolution (``F`` -> ``torch.nn.functional``); a user's
own ``softmax`` helper is followed into its body instead of being taken for torch's.

This file is longer than the house limit because the walker, its value types and the
name tables are one unit: splitting them would only add imports between them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import reduce
from typing import Any

import libcst as cst

from nnlint.names import ImportMap, dotted_name
from nnlint.walk import iter_children, walk

__all__ = ["Analysis", "Kind", "Loss", "LossUse", "Origin", "Tensor", "analyse"]


class Kind(Enum):
    PROBS = "softmax output"
    LOG_PROBS = "log-softmax output"
    SIGMOID = "sigmoid output"
    LOGITS = "raw logits"
    ACTIVATED = "activation output"


class Loss(Enum):
    CE = "cross-entropy"
    NLL = "NLL"
    BCE_LOGITS = "BCE-with-logits"
    BCE = "BCE"


# -- vocabulary (canonical qualified names) --------------------------------------------
_F = "torch.nn.functional."
_ACT_FUNCS = "relu relu6 elu selu celu gelu silu mish softplus leaky_relu hardtanh tanh"
# qualified function -> (kind, parameter position of ``dim``)
FUNCTION_KINDS: dict[str, tuple[Kind, int]] = {
    **{f"{p}softmax": (Kind.PROBS, 1) for p in (_F, "torch.", "torch.special.")},
    **{
        f"{p}log_softmax": (Kind.LOG_PROBS, 1) for p in (_F, "torch.", "torch.special.")
    },
    **{
        f: (Kind.SIGMOID, 1)
        for f in ("torch.sigmoid", _F + "sigmoid", "torch.special.expit")
    },
    **{_F + name: (Kind.ACTIVATED, 1) for name in _ACT_FUNCS.split()},
    **{
        f"torch.{name}": (Kind.ACTIVATED, 1)
        for name in ("relu", "tanh", "selu", "celu")
    },
    _F + "linear": (Kind.LOGITS, 1),
}
METHOD_KINDS: dict[str, Kind] = {
    "softmax": Kind.PROBS,
    "log_softmax": Kind.LOG_PROBS,
    "sigmoid": Kind.SIGMOID,
    "relu": Kind.ACTIVATED,
    "tanh": Kind.ACTIVATED,
}
_ACT_MODULES = (
    "ReLU ReLU6 ELU SELU CELU GELU SiLU Mish Softplus LeakyReLU Hardtanh Tanh"
)
_LOGIT_MODULES = "Linear LazyLinear Bilinear Conv1d Conv2d Conv3d"
MODULE_KINDS: dict[str, Kind] = {
    "torch.nn.Softmax": Kind.PROBS,
    "torch.nn.LogSoftmax": Kind.LOG_PROBS,
    "torch.nn.Sigmoid": Kind.SIGMOID,
    **{f"torch.nn.{name}": Kind.ACTIVATED for name in _ACT_MODULES.split()},
    **{f"torch.nn.{name}": Kind.LOGITS for name in _LOGIT_MODULES.split()},
}
# Modules and operations that keep what a tensor "is" (shape and dtype changes only).
_PASS_MODULES = "Identity Flatten Dropout Dropout1d Dropout2d Dropout3d AlphaDropout"
PASS_MODULES = frozenset(f"torch.nn.{name}" for name in _PASS_MODULES.split())
PASS_FUNCTIONS = frozenset(
    [
        f"torch.{n}"
        for n in "flatten reshape squeeze unsqueeze clamp clip permute".split()
    ]
    + ["torch.transpose", _F + "dropout"]
)
PASS_METHODS = frozenset(
    "view reshape flatten contiguous float double half bfloat16 to type type_as "
    "squeeze unsqueeze permute transpose clamp clip view_as reshape_as cuda cpu".split()
)
LOSS_FUNCTIONS: dict[str, Loss] = {
    _F + "cross_entropy": Loss.CE,
    _F + "nll_loss": Loss.NLL,
    _F + "binary_cross_entropy_with_logits": Loss.BCE_LOGITS,
    "torch.binary_cross_entropy_with_logits": Loss.BCE_LOGITS,
    _F + "binary_cross_entropy": Loss.BCE,
}
LOSS_MODULES: dict[str, Loss] = {
    "torch.nn.CrossEntropyLoss": Loss.CE,
    "torch.nn.NLLLoss": Loss.NLL,
    "torch.nn.NLLLoss2d": Loss.NLL,
    "torch.nn.BCEWithLogitsLoss": Loss.BCE_LOGITS,
    "torch.nn.BCELoss": Loss.BCE,
}


# -- abstract values -------------------------------------------------------------------
@dataclass(frozen=True)
class Origin:
    """The operation that gave a tensor its kind, and what a fix may do with it.

    ``node`` is what the user should look at (the softmax call, or the ``nn.Softmax()``
    element of a Sequential); ``remove`` are replacements deleting the operation;
    ``named_by`` is the attribute spelling it (``F.softmax``, ``nn.Softmax``) for rename
    fixes; ``dim`` its explicit ``dim`` argument; ``inner`` what it was applied to.
    """

    node: cst.CSTNode
    remove: tuple[tuple[cst.CSTNode, Any], ...] = ()
    named_by: cst.Attribute | None = None
    dim: cst.BaseExpression | None = None
    inner: cst.BaseExpression | None = None


@dataclass(frozen=True)
class Tensor:
    kind: Kind
    origin: Origin


@dataclass(frozen=True)
class Items:
    """A tuple/list (``keys`` None) or a dict literal with string keys."""

    values: tuple[Value, ...]
    keys: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ModuleObject:
    """An ``nn.Module`` whose output kind is known; ``container`` is the Sequential that
    holds it as element ``element`` (then that element is what gets reported)."""

    kind: Kind
    ctor: cst.Call
    container: cst.Call | None = None
    element: int = -1


@dataclass(frozen=True)
class LossObject:
    loss: Loss
    ctor: cst.Call


@dataclass(frozen=True)
class Instance:
    """An object of a class defined in this file (usually a model)."""

    cls: str


@dataclass(frozen=True)
class Param:
    """A parameter of the function being walked, so that a helper such as
    ``def loss_fn(out, y): return F.cross_entropy(out, y)`` is checked at each call
    site. ``index`` is the position among positional parameters (-1: keyword-only)."""

    function: cst.FunctionDef
    index: int
    name: str


@dataclass(frozen=True)
class Returned:
    """A nested function: calling it gives ``value``."""

    value: Value


Value = Tensor | Items | ModuleObject | LossObject | Instance | Param | Returned | None


@dataclass(frozen=True)
class LossUse:
    """One call of a loss and the value reaching its input.

    ``named_by`` spells the loss (``F.nll_loss``, ``nn.BCELoss(...)``'s ``nn.BCELoss``)
    for rename fixes; ``single_use`` means the input tensor feeds nothing but this loss
    (passed inline, or a local read exactly once), so changing it changes nothing else.
    """

    loss: Loss
    call: cst.Call
    value: Value
    named_by: cst.Attribute | None
    single_use: bool


@dataclass
class Analysis:
    uses: list[LossUse] = field(default_factory=list)

    def uses_of(self, named_by: cst.CSTNode | None) -> int:
        """How many loss calls share one loss spelling (e.g. one criterion object)."""
        return sum(1 for use in self.uses if use.named_by is named_by)

    def tensor_uses(self, loss: Loss, kind: Kind) -> list[tuple[LossUse, Tensor]]:
        """Uses of ``loss`` whose input is a tensor of ``kind``, in source order."""
        return [
            (use, use.value)
            for use in self.uses
            if use.loss is loss
            and isinstance(use.value, Tensor)
            and use.value.kind is kind
        ]


_CACHE: list[tuple[cst.Module, Analysis]] = []


def analyse(module: cst.Module) -> Analysis:
    """The analysis of ``module``, computed once and shared by every NNL1xx rule.

    All rules see one tree during one walk, so remembering the last tree (by identity)
    is enough, and it keeps worker processes independent."""
    if _CACHE and _CACHE[0][0] is module:
        return _CACHE[0][1]
    try:
        analysis = _Walker(module).run()
    except RecursionError:
        # Pathologically nested expressions: no data flow rather than no lint at all.
        analysis = Analysis()
    _CACHE[:] = [(module, analysis)]
    return analysis


# -- helpers shared with the rules -----------------------------------------------------
def argument(call: cst.Call, position: int, keyword: str) -> cst.BaseExpression | None:
    """The expression passed for a parameter, by keyword or position; None if absent."""
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == keyword:
            return arg.value
    if any(arg.star for arg in call.args):
        return None
    positional = [arg for arg in call.args if arg.keyword is None]
    return positional[position].value if position < len(positional) else None


def parenthesised(node: cst.BaseExpression) -> cst.BaseExpression:
    """``node`` fit to stand where a call stood: atoms as they are, others in parens."""
    atoms = (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.SimpleString)
    if isinstance(node, atoms) or node.lpar:
        return node
    return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def without_element(call: cst.Call, index: int) -> cst.Call:
    """``nn.Sequential(a, b)`` without the element at ``index``, layout preserved."""
    args = list(call.args)
    removed = args.pop(index)
    if args and index == len(args):
        args[-1] = args[-1].with_changes(comma=removed.comma)
    return call.with_changes(args=args)


def _call_origin(
    node: cst.Call, inner: cst.BaseExpression | None, dim_at: int
) -> Origin:
    named_by = node.func if isinstance(node.func, cst.Attribute) else None
    remove = ((node, parenthesised(inner)),) if inner is not None else ()
    return Origin(node, remove, named_by, argument(node, dim_at, "dim"), inner)


def _module_origin(module: ModuleObject, call: cst.Call) -> Origin:
    named_by = module.ctor.func if isinstance(module.ctor.func, cst.Attribute) else None
    dim = argument(module.ctor, 0, "dim")
    if module.container is not None:
        trimmed = without_element(module.container, module.element)
        return Origin(module.ctor, ((module.container, trimmed),), named_by, dim)
    inner = argument(call, 0, "input")
    remove = ((call, parenthesised(inner)),) if inner is not None else ()
    return Origin(call, remove, named_by, dim, inner)


def _drop_line(
    value: Value, line: cst.CSTNode | None, target: str, block: int
) -> Value:
    """``x = F.softmax(x, 1)``: the op is best removed by dropping the whole line."""
    if not isinstance(value, Tensor) or not isinstance(line, cst.SimpleStatementLine):
        return value
    origin = value.origin
    if block < 2 or len(line.body) != 1 or not origin.remove:
        return value
    if not (isinstance(origin.inner, cst.Name) and origin.inner.value == target):
        return value
    if origin.remove[0][0] is not origin.node:
        return value
    dropped = replace(origin, remove=((line, cst.RemovalSentinel.REMOVE),))
    return replace(value, origin=dropped)


def _bound_by_import(node: cst.Import | cst.ImportFrom) -> list[str]:
    if isinstance(node.names, cst.ImportStar):
        return []
    bound = []
    for alias in node.names:
        local = alias.asname.name if alias.asname is not None else alias.name
        bound.append((dotted_name(local) or "").partition(".")[0])
    return bound


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


def _decorators(node: cst.FunctionDef) -> set[str]:
    return {
        decorator.decorator.value
        for decorator in node.decorators
        if isinstance(decorator.decorator, cst.Name)
    }


_ROLES: dict[type, str] = {}


def _role(kind: type) -> str:
    """How :meth:`_Walker.children` treats a node type, cached per type: an
    expression (evaluated), a statement (walked elsewhere, skipped here) or other
    (arguments, slices, comprehension clauses: descended into)."""
    role = _ROLES.get(kind)
    if role is None:
        if issubclass(kind, cst.BaseExpression):
            role = "expression"
        elif issubclass(kind, cst.BaseSuite | cst.BaseStatement):
            role = "statement"
        else:
            role = "other"
        _ROLES[kind] = role
    return role


def _merge_all(values: Sequence[Value]) -> Value:
    return reduce(lambda a, b: a if a == b else None, values) if values else None


def _literal_key(node: cst.BaseSlice) -> int | str | None:
    if not isinstance(node, cst.Index):
        return None
    value = node.value
    if isinstance(value, cst.Integer):
        return value.evaluated_value
    if isinstance(value, cst.UnaryOperation) and isinstance(
        value.expression, cst.Integer
    ):
        if isinstance(value.operator, cst.Minus):
            return -value.expression.evaluated_value
    if isinstance(value, cst.SimpleString):
        evaluated = value.evaluated_value
        return evaluated if isinstance(evaluated, str) else None
    return None


_Site = tuple[cst.Call, list[Value], "_Scope"]


@dataclass
class _ClassInfo:
    methods: dict[str, cst.FunctionDef] = field(default_factory=dict)
    attrs: dict[str, Value] = field(default_factory=dict)
    bases: list[str] = field(default_factory=list)


@dataclass
class _Scope:
    """One function (or the module body) being walked."""

    node: cst.CSTNode
    owner: str | None = None
    env: dict[str, Value] = field(default_factory=dict)
    sources: dict[str, cst.CSTNode] = field(default_factory=dict)
    returns: list[Value] = field(default_factory=list)
    _counts: Counter[str] | None = None

    def counts(self) -> Counter[str]:
        if self._counts is None:
            self._counts = Counter(
                node.value for node in walk(self.node) if isinstance(node, cst.Name)
            )
        return self._counts


# -- the walker ------------------------------------------------------------------------
class _Walker:
    def __init__(self, module: cst.Module) -> None:
        self.module = module
        self.imports = ImportMap.from_module(module)
        self.classes: dict[str, _ClassInfo] = {}
        self.functions: dict[str, cst.FunctionDef] = {}
        self.globals: dict[str, Value] = {}
        self.summaries: dict[cst.FunctionDef, Value] = {}
        self.running: set[cst.FunctionDef] = set()
        # Losses inside a function whose input is one of its parameters.
        self.param_losses: dict[cst.FunctionDef, list[tuple[Param, LossUse]]] = {}
        self.record = False
        self.analysis = Analysis()

    def run(self) -> Analysis:
        self._index()
        # Pass 1 (silent): module globals and every class's ``self.<attr>`` values.
        top = _Scope(self.module)
        self.block(self.module.body, top)
        self.globals = top.env
        for name, info in self.classes.items():
            for method in info.methods.values():
                self.walk_function(method, name)
        # Pass 2: everything again, now recording loss calls and computing summaries.
        self.record = True
        self.block(self.module.body, _Scope(self.module))
        for function in self.functions.values():
            self.summary(function, None)
        for name, info in self.classes.items():
            for method in info.methods.values():
                self.summary(method, name)
        return self.analysis

    def _index(self) -> None:
        for statement in self.module.body:
            if isinstance(statement, cst.FunctionDef):
                self.functions[statement.name.value] = statement
            elif isinstance(statement, cst.ClassDef):
                info = _ClassInfo(
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
        scope = _Scope(node, owner, dict(env or {}))
        params = node.params
        for index, param in enumerate((*params.posonly_params, *params.params)):
            scope.env[param.name.value] = Param(node, index, param.name.value)
        for param in params.kwonly_params:
            scope.env[param.name.value] = Param(node, -1, param.name.value)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                scope.env[star.name.value] = None
        self.suite(node.body, scope)
        return _merge_all(scope.returns)

    def summary(self, node: cst.FunctionDef, owner: str | None) -> Value:
        """What calling a function returns (walking it once, recording its losses)."""
        if not self.record or node in self.running:
            return None
        if node not in self.summaries:
            self.running.add(node)
            self.summaries[node] = self.walk_function(node, owner)
            self.running.discard(node)
        return self.summaries[node]

    def _find(self, cls: str, pick: Callable[[_ClassInfo], Any], depth: int = 0) -> Any:
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
        self, cls: str, name: str, site: _Site | None = None, via_class: bool = False
    ) -> tuple[bool, Value]:
        def pick(info: _ClassInfo) -> tuple[cst.FunctionDef, str] | None:
            method = info.methods.get(name)
            return None if method is None else (method, cls)

        found = self._find(cls, pick)
        if found is None:
            return False, None
        return True, self.invoke(found[0], cls, site, via_class)

    def invoke(
        self,
        node: cst.FunctionDef,
        owner: str | None,
        site: _Site | None,
        via_class: bool = False,
    ) -> Value:
        """Call a function defined in the file: its summary, and its parameter losses
        checked against the arguments given at this call site."""
        result = self.summary(node, owner)
        if site is None or not self.param_losses.get(node):
            return result
        call, values, scope = site
        # Does the call site fill the first parameter (``self``/``cls``) implicitly?
        decorators = _decorators(node)
        if via_class:
            bound = "classmethod" in decorators
        else:
            bound = owner is not None and "staticmethod" not in decorators
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

    def attribute(self, cls: str, name: str) -> Value:
        return self._find(cls, lambda info: info.attrs.get(name))

    # -- statements --------------------------------------------------------------------
    def suite(self, suite: cst.BaseSuite, scope: _Scope) -> None:
        if isinstance(suite, cst.IndentedBlock):
            self.block(suite.body, scope)
        elif isinstance(suite, cst.SimpleStatementSuite):
            for small in suite.body:
                self.small(small, None, scope, 1)

    def block(self, statements: Sequence[cst.BaseStatement], scope: _Scope) -> None:
        for statement in statements:
            self.statement(statement, scope, len(statements))

    def statement(self, node: cst.BaseStatement, scope: _Scope, block: int) -> None:
        if isinstance(node, cst.SimpleStatementLine):
            for small in node.body:
                self.small(small, node, scope, block)
        elif isinstance(node, cst.If):
            self.expr(node.test, scope)
            orelse = node.orelse
            runs = [lambda s: self.suite(node.body, s)]
            if isinstance(orelse, cst.Else):
                runs.append(lambda s: self.suite(orelse.body, s))
            elif isinstance(orelse, cst.If):
                runs.append(lambda s: self.statement(orelse, s, 1))
            self.branches(scope, runs, may_skip=orelse is None)
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

    def loop(self, node: cst.For | cst.While, scope: _Scope) -> None:
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
        self, target: cst.BaseExpression, body: cst.BaseSuite, scope: _Scope
    ) -> None:
        self.bind(target, None, scope)
        self.suite(body, scope)

    def try_statement(self, node: cst.Try, scope: _Scope) -> None:
        self.suite(node.body, scope)
        runs = [lambda s, h=handler: self.suite(h.body, s) for handler in node.handlers]
        if runs:
            self.branches(scope, runs, may_skip=True)
        if node.orelse is not None:
            self.suite(node.orelse.body, scope)
        if node.finalbody is not None:
            self.suite(node.finalbody.body, scope)

    def branches(
        self, scope: _Scope, runs: Sequence[Callable[..., None]], may_skip: bool
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
        missing = object()
        merged: dict[str, Value] = {}
        for name in {name for env in results for name in env}:
            values = [env.get(name, missing) for env in results]
            first = values[0]
            same = all(value == first for value in values) and first is not missing
            merged[name] = first if same else None  # type: ignore[assignment]
        scope.env = merged

    def small(
        self,
        node: cst.BaseSmallStatement,
        line: cst.SimpleStatementLine | None,
        scope: _Scope,
        block: int,
    ) -> None:
        if isinstance(node, cst.Assign):
            value = self.expr(node.value, scope)
            for target in node.targets:
                bound = value
                if isinstance(target.target, cst.Name) and len(node.targets) == 1:
                    bound = _drop_line(value, line, target.target.value, block)
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
        elif isinstance(node, cst.Expr):
            self.expr(node.value, scope)
        elif isinstance(node, cst.Import | cst.ImportFrom):
            self.imports.add_import(node)
            for name in _bound_by_import(node):
                scope.env.pop(name, None)  # the import rebinds it: resolve it again

    def bind(self, target: cst.BaseExpression, value: Value, scope: _Scope) -> None:
        if isinstance(target, cst.Name):
            scope.env[target.value] = value
        elif isinstance(target, cst.Tuple | cst.List):
            self.bind_items(target.elements, value, scope)
        elif self._is_self_attribute(target, scope) and not self.record:
            assert isinstance(target, cst.Attribute)
            attrs = self.classes[scope.owner or ""].attrs
            name = target.attr.value
            # Assigned in several places with different values: unknown.
            attrs[name] = value if attrs.get(name, value) == value else None

    def bind_items(
        self, elements: Sequence[cst.BaseElement], value: Value, scope: _Scope
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

    def _is_self_attribute(self, node: cst.BaseExpression, scope: _Scope) -> bool:
        return (
            scope.owner is not None
            and isinstance(node, cst.Attribute)
            and isinstance(node.value, cst.Name)
            and node.value.value == "self"
        )

    # -- expressions -------------------------------------------------------------------
    def expr(self, node: cst.BaseExpression, scope: _Scope) -> Value:
        # Dispatch on the exact type: isinstance() against libcst's ABC-based node
        # classes was the analysis's main cost.
        kind = type(node)
        if kind is cst.Name:
            return self.name(node.value, scope)  # type: ignore[attr-defined]
        if kind is cst.Call:
            return self.call(node, scope)  # type: ignore[arg-type]
        if kind is cst.Attribute:
            if self._is_self_attribute(node, scope):
                return self.attribute(scope.owner, node.attr.value)  # type: ignore[arg-type,attr-defined]
            self.expr(node.value, scope)  # type: ignore[attr-defined]
            return None
        if kind is cst.Subscript:
            return self.subscript(node, scope)  # type: ignore[arg-type]
        if kind is cst.Tuple or kind is cst.List:
            elements = node.elements  # type: ignore[attr-defined]
            values = tuple(self.expr(element.value, scope) for element in elements)
            starred = any(type(e) is cst.StarredElement for e in elements)
            return None if starred else Items(values)
        if kind is cst.Dict:
            return self.dict_literal(node, scope)  # type: ignore[arg-type]
        if kind is cst.IfExp:
            assert isinstance(node, cst.IfExp)
            self.expr(node.test, scope)
            return merge(self.expr(node.body, scope), self.expr(node.orelse, scope))
        if kind is cst.NamedExpr:
            assert isinstance(node, cst.NamedExpr)
            value = self.expr(node.value, scope)
            self.bind(node.target, value, scope)
            return value
        self.children(node, scope)
        return None

    def children(self, node: cst.CSTNode, scope: _Scope) -> None:
        """Visit sub-expressions we do not model, for the loss calls inside them."""
        for child in iter_children(node):
            role = _role(type(child))
            if role == "expression":
                self.expr(child, scope)  # type: ignore[arg-type]
            elif role == "other":
                self.children(child, scope)

    def name(self, name: str, scope: _Scope) -> Value:
        if name in scope.env:
            return scope.env[name]
        return self.globals.get(name)

    def subscript(self, node: cst.Subscript, scope: _Scope) -> Value:
        base = self.expr(node.value, scope)
        for element in node.slice:
            self.children(element, scope)
        if isinstance(base, Tensor):
            return base  # indexing a probability tensor still gives probabilities
        if isinstance(base, Items) and len(node.slice) == 1:
            key = _literal_key(node.slice[0].slice)
            if (
                isinstance(key, int)
                and base.keys is None
                and -len(base.values) <= key < len(base.values)
            ):
                return base.values[key]
            if isinstance(key, str) and base.keys is not None and key in base.keys:
                return base.values[base.keys.index(key)]
        return None

    def dict_literal(self, node: cst.Dict, scope: _Scope) -> Value:
        keys: list[str] = []
        values: list[Value] = []
        for element in node.elements:
            if not isinstance(element, cst.DictElement):
                self.children(element, scope)
                return None
            self.expr(element.key, scope)
            values.append(self.expr(element.value, scope))
            key = element.key
            evaluated = (
                key.evaluated_value if isinstance(key, cst.SimpleString) else None
            )
            if not isinstance(evaluated, str):
                return None
            keys.append(evaluated)
        return Items(tuple(values), tuple(keys))

    def resolve(self, node: cst.BaseExpression, scope: _Scope) -> str | None:
        """Qualified name of an imported callee, unless a local name shadows it."""
        name = dotted_name(node)
        if name is None:
            return None
        head = name.partition(".")[0]
        if head in scope.env or head in self.globals or head in self.classes:
            return None
        return self.imports.resolve(node)

    # -- calls -------------------------------------------------------------------------
    def call(self, node: cst.Call, scope: _Scope) -> Value:
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
        self, node: cst.Call, callee: Value, values: list[Value], scope: _Scope
    ) -> Value:
        if isinstance(callee, ModuleObject):
            return Tensor(callee.kind, _module_origin(callee, node))
        if isinstance(callee, LossObject):
            named_by = callee.ctor.func
            attribute = named_by if isinstance(named_by, cst.Attribute) else None
            return self.record_loss(callee.loss, node, attribute, values, scope)
        if isinstance(callee, Instance):
            return self.method_result(callee.cls, "forward", (node, values, scope))[1]
        if isinstance(callee, Returned):
            return callee.value
        return None

    def call_attribute(
        self, node: cst.Call, func: cst.Attribute, values: list[Value], scope: _Scope
    ) -> Value:
        method = func.attr.value
        receiver = func.value
        if isinstance(receiver, cst.Name) and receiver.value == "self" and scope.owner:
            found, result = self.method_result(
                scope.owner, method, (node, values, scope)
            )
            if found:
                return result
            return self.call_value(
                node, self.attribute(scope.owner, method), values, scope
            )
        if self._is_super(receiver) and scope.owner:
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
            found, result = self.method_result(
                target.cls, method, (node, values, scope)
            )
            if found:
                return result
            return self.call_value(
                node, self.attribute(target.cls, method), values, scope
            )
        return self.tensor_method(node, method, receiver, target)

    @staticmethod
    def _is_super(node: cst.BaseExpression) -> bool:
        return (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Name)
            and node.func.value == "super"
        )

    def tensor_method(
        self, node: cst.Call, method: str, receiver: cst.BaseExpression, target: Value
    ) -> Value:
        """``x.softmax(1)``, ``x.view(-1, c)``, ``probs.log()``: tensor methods."""
        if method in METHOD_KINDS:
            return Tensor(METHOD_KINDS[method], _call_origin(node, receiver, 0))
        if method in PASS_METHODS:
            return target if isinstance(target, Tensor) else None
        if method == "log" and isinstance(target, Tensor) and target.kind is Kind.PROBS:
            return Tensor(Kind.LOG_PROBS, Origin(node))
        return None

    def call_qualified(
        self, node: cst.Call, qualified: str, values: list[Value], scope: _Scope
    ) -> Value:
        if qualified in FUNCTION_KINDS:
            kind, dim_at = FUNCTION_KINDS[qualified]
            return Tensor(kind, _call_origin(node, argument(node, 0, "input"), dim_at))
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
            return first if isinstance(first, Tensor) else None
        if qualified == "torch.log" and isinstance(first, Tensor):
            return (
                Tensor(Kind.LOG_PROBS, Origin(node))
                if first.kind is Kind.PROBS
                else None
            )
        return None

    def sequential(self, node: cst.Call, values: list[Value], scope: _Scope) -> Value:
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
        scope: _Scope,
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
        return None


def merge(first: Value, second: Value) -> Value:
    return first if first == second else None
