"""What ``self.X`` is: a per-file table of each nn.Module class, computed once per file.

Several initialisation and structure rules ask the same questions about a class:
what was ``self.fc`` constructed as, with which arguments, what a ``nn.Sequential``
holds, and which submodule's output reaches which other submodule in ``forward``. The
answers come from one pass over the file, cached on the module object, and shared by
every rule that asks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import libcst as cst

from nnlint.names import dotted_name
from nnlint.rules.base import Rule
from nnlint.walk import iter_children

Resolve = Callable[[cst.BaseExpression], "str | None"]

_LINEAR = ("Linear", "LazyLinear", "Bilinear")
_CONV = tuple(
    f"{kind}{dim}d" for kind in ("Conv", "ConvTranspose") for dim in (1, 2, 3)
)
# Layers whose weight mixes features: a constant weight makes all output units equal.
MIXING = frozenset(f"torch.nn.{name}" for name in _LINEAR + _CONV)
_ACTIVATIONS = (
    "ReLU ReLU6 LeakyReLU PReLU ELU SELU CELU GELU SiLU Mish Tanh Sigmoid Hardswish "
    "Hardsigmoid Hardtanh Softplus Softsign Tanhshrink RReLU Threshold LogSigmoid"
).split()
_NORMS = (
    "LayerNorm RMSNorm GroupNorm LocalResponseNorm BatchNorm1d BatchNorm2d BatchNorm3d "
    "InstanceNorm1d InstanceNorm2d InstanceNorm3d SyncBatchNorm"
).split()
_DROPOUT = "Dropout Dropout1d Dropout2d Dropout3d AlphaDropout Identity".split()
# Shape-preserving modules without feature mixing: they pass a layer's output through.
PASSTHROUGH = frozenset(f"torch.nn.{name}" for name in _ACTIVATIONS + _NORMS + _DROPOUT)
SEQUENTIAL = "torch.nn.Sequential"
_STATELESS = frozenset(
    f"torch.nn.{name}"
    for name in [n for n in _ACTIVATIONS if n != "PReLU"]
    + "Identity Flatten Unflatten Softmax LogSoftmax Softmin Upsample".split()
)
FUNCTIONAL_PASSTHROUGH = frozenset(
    [
        f"torch.nn.functional.{n}"
        for n in "relu relu6 gelu silu elu selu leaky_relu "
        "mish tanh sigmoid hardswish dropout softplus".split()
    ]
    + [f"torch.{n}" for n in "relu tanh sigmoid".split()]
)
RESHAPE_METHODS = frozenset("view reshape flatten permute transpose unflatten".split())
_NOT_TORCH = (
    "flax",
    "jax",
    "tensorflow",
    "keras",
    "tf_keras",
    "haiku",
    "mlx",
    "paddle",
)


@dataclass
class Layer:
    """A constructor call assigned to an attribute (or held by a ``nn.Sequential``)."""

    kind: str | None  # qualified class name, "local.Name" for this file's classes
    call: cst.Call | None
    elements: tuple[Layer, ...] | None = None  # literal elements of a Sequential

    def arg(self, index: int, keyword: str) -> cst.BaseExpression | None:
        """The argument at ``index`` or named ``keyword`` (None if absent/unclear)."""
        if self.call is None:
            return None
        positional = 0
        for argument in self.call.args:
            if argument.star:
                return None
            if argument.keyword is not None:
                if argument.keyword.value == keyword:
                    return argument.value
                continue
            if positional == index:
                return argument.value
            positional += 1
        return None


def layer_of(value: cst.BaseExpression, resolve: Resolve, local: set[str]) -> Layer:
    if not isinstance(value, cst.Call):
        return Layer(None, None)
    kind = resolve(value.func)
    name = dotted_name(value.func)
    if kind is None and name in local:
        kind = f"local.{name}"
    elements = None
    if kind == SEQUENTIAL and all(
        not a.star and a.keyword is None and isinstance(a.value, cst.Call)
        for a in value.args
    ):
        elements = tuple(layer_of(a.value, resolve, local) for a in value.args)
    return Layer(kind, value, elements)


@dataclass
class ClassModel:
    node: cst.ClassDef
    is_module: bool
    methods: dict[str, cst.FunctionDef]
    # self.X = value in every method but forward, in source order.
    assigned: dict[str, list[cst.BaseExpression]]
    layers: dict[str, list[Layer]]  # the constructor calls among those values
    init_params: tuple[str, ...]
    _flows: dict[cst.FunctionDef, ForwardFlow] = field(default_factory=dict)

    def layer(self, attr: str) -> Layer | None:
        """The constructor call ``self.attr`` was assigned, if assigned once."""
        found = self.layers.get(attr, [])
        if len(found) == 1 and len(self.assigned.get(attr, [])) == 1:
            return found[0]
        return None

    def forward_methods(self) -> list[cst.FunctionDef]:
        return [fn for name, fn in self.methods.items() if name.startswith("forward")]

    def flow(self, function: cst.FunctionDef, resolve: Resolve) -> ForwardFlow:
        if function not in self._flows:
            self._flows[function] = ForwardFlow(self, resolve).run(function)
        return self._flows[function]


@dataclass
class FileModel:
    classes: dict[cst.ClassDef, ClassModel]
    by_name: dict[str, ClassModel]


_CACHE: list[tuple[cst.Module, FileModel]] = []


def file_model(rule: Rule) -> FileModel:
    """The model of the file ``rule`` is linting (built by the first rule that asks)."""
    module = rule.context.module
    if _CACHE and _CACHE[0][0] is module:
        return _CACHE[0][1]
    model = _build(module, rule.context.imports.resolve)
    _CACHE[:] = [(module, model)]
    return model


def module_class(rule: Rule, node: cst.ClassDef) -> ClassModel | None:
    """The model of ``node`` if it is a torch ``nn.Module`` subclass, else None."""
    found = file_model(rule).classes.get(node)
    return found if found is not None and found.is_module else None


def _build(module: cst.Module, resolve: Resolve) -> FileModel:
    class_nodes = list(_class_defs(module))
    local = {n.name.value for n in class_nodes}
    model = FileModel({}, {})
    for node in class_nodes:
        methods = {
            s.name.value: s for s in node.body.body if isinstance(s, cst.FunctionDef)
        }
        assigned: dict[str, list[cst.BaseExpression]] = {}
        for name, method in methods.items():
            if not name.startswith("forward"):
                for attr, value in self_assignments(method):
                    assigned.setdefault(attr, []).append(value)
        layers = {
            attr: [layer_of(v, resolve, local) for v in _alternatives(values)]
            for attr, values in assigned.items()
        }
        init = methods.get("__init__")
        params = tuple(p.name.value for p in init.params.params[1:]) if init else ()
        classes = ClassModel(node, False, methods, assigned, layers, params)
        classes.is_module = _is_module(node, resolve, model.by_name, methods)
        model.classes[node] = classes
        model.by_name.setdefault(node.name.value, classes)
    return model


def _alternatives(values: list[cst.BaseExpression]) -> Iterator[cst.BaseExpression]:
    for value in values:
        if isinstance(value, cst.IfExp):
            yield from _alternatives([value.body, value.orelse])
        else:
            yield value


def _is_module(
    node: cst.ClassDef,
    resolve: Resolve,
    known: dict[str, ClassModel],
    methods: dict[str, cst.FunctionDef],
) -> bool:
    for base in node.bases:
        name = resolve(base.value)
        if name is not None and name.startswith("torch.nn."):
            return True
        if name is not None and name.split(".")[0] in _NOT_TORCH:
            return False
        local = known.get(dotted_name(base.value) or "")
        if local is not None and local.is_module:
            return True
    # A class from a relative import (``from .base import Block``) with a forward.
    return bool(node.bases) and any(name.startswith("forward") for name in methods)


def _class_defs(node: cst.CSTNode) -> Iterator[cst.ClassDef]:
    """Class definitions at any depth (also inside functions), statements only."""
    for child in _statements(node):
        if isinstance(child, cst.ClassDef):
            yield child
        yield from _class_defs(child)


def _statements(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """The statements directly inside ``node``'s blocks (fields read directly)."""
    if isinstance(node, cst.Module | cst.IndentedBlock):
        for statement in node.body:
            if not isinstance(statement, cst.SimpleStatementLine):
                yield statement
        return
    for name in ("body", "orelse", "finalbody"):
        block = getattr(node, name, None)
        if isinstance(block, cst.IndentedBlock):
            yield from _statements(block)
        elif isinstance(block, cst.Else | cst.Finally | cst.If):
            yield block
    yield from getattr(node, "handlers", ())


def self_name(function: cst.FunctionDef) -> str | None:
    params = function.params.params
    return params[0].name.value if params else None


def self_attr(expr: cst.BaseExpression, owner: str | None = "self") -> str | None:
    """``X`` for ``self.X``."""
    if (
        isinstance(expr, cst.Attribute)
        and isinstance(expr.value, cst.Name)
        and expr.value.value == owner
    ):
        return expr.attr.value
    return None


def self_assignments(
    function: cst.FunctionDef,
) -> Iterator[tuple[str, cst.BaseExpression]]:
    """``(X, value)`` for every ``self.X = value`` in ``function`` (not nested defs)."""
    owner = self_name(function)
    for statement in simple_statements(function.body):
        for small in statement.body:
            if isinstance(small, cst.Assign):
                targets = [t.target for t in small.targets]
            elif isinstance(small, cst.AnnAssign) and small.value is not None:
                targets = [small.target]
            else:
                continue
            for target in targets:
                attr = self_attr(target, owner)
                if attr is not None:
                    yield attr, small.value  # type: ignore[misc]


def simple_statements(
    node: cst.CSTNode,
) -> Iterator[cst.SimpleStatementLine | cst.SimpleStatementSuite]:
    """Simple statement lines in the block ``node`` and nested blocks, not in nested
    defs (block fields are read directly: much cheaper than a generic walk)."""
    if isinstance(node, cst.SimpleStatementLine | cst.SimpleStatementSuite):
        yield node
        return
    if isinstance(node, cst.FunctionDef | cst.ClassDef):
        return
    body = getattr(node, "body", ())
    for child in body if isinstance(body, list | tuple) else (body,):
        yield from simple_statements(child)
    for name in ("orelse", "finalbody"):
        block = getattr(node, name, None)
        if block is not None:
            yield from simple_statements(block)
    for handler in getattr(node, "handlers", ()):
        yield from simple_statements(handler)


# -- forward data flow ----------------------------------------------------------


@dataclass(frozen=True)
class Flow:
    """A value as "tensor ``root`` with the submodules ``steps`` applied in order".

    ``root`` identifies the value the chain started from (an argument, or anything the
    flow cannot see through); ``"~"`` in ``steps`` is a reshape (view, flatten, ...).
    """

    root: int
    steps: tuple[str, ...] = ()

    def then(self, step: str) -> Flow:
        return Flow(self.root, (*self.steps, step))


@dataclass(eq=False)
class Binding:
    """What a local name holds at one point of ``forward``."""

    flow: Flow
    tensorish: bool
    # ``h = self.block(x)``: ("x", the binding x had then): what ``h`` came from.
    source: tuple[str, Binding] | None = None


@dataclass
class Add:
    node: cst.BinaryOperation | cst.AugAssign
    left: cst.BaseExpression
    right: cst.BaseExpression
    flows: tuple[Flow | None, Flow | None]
    bindings: tuple[Binding | None, Binding | None]
    guarded: bool  # under an ``if`` or a conditional expression
    env: dict[str, Binding]  # what every local name held when the add ran


@dataclass
class Application:
    attr: str  # the submodule (or raw weight parameter) applied
    input: Flow | None
    node: cst.CSTNode


_SAME_VALUE_METHODS = frozenset("contiguous float half double to type_as clone".split())


class ForwardFlow:
    """One linear pass over a forward method: which submodule chain produced each name,
    every ``+`` with the chains of its operands, and every submodule application.

    Branches are walked in order, as if all were taken (a later assignment wins): this
    is enough for "what does this add combine?" and never invents a chain."""

    def __init__(self, model: ClassModel, resolve: Resolve) -> None:
        self.model = model
        self.resolve = resolve
        self.env: dict[str, Binding] = {}
        self.adds: list[Add] = []
        self.applications: list[Application] = []
        self.owner: str | None = None
        self._guard = 0
        self._roots = 0

    def fresh(self, tensorish: bool = False) -> Binding:
        self._roots += 1
        return Binding(Flow(self._roots), tensorish)

    def run(self, function: cst.FunctionDef) -> ForwardFlow:
        self.owner = self_name(function)
        for param in function.params.params[1:]:
            annotation = param.annotation
            text = (
                ""
                if annotation is None
                else cst.Module([]).code_for_node(annotation.annotation)
            )
            self.env[param.name.value] = self.fresh(not text or "Tensor" in text)
        self._suite(function.body)
        return self

    # -- statements
    def _suite(self, suite: cst.CSTNode) -> None:
        for statement in getattr(suite, "body", ()):
            self._statement(statement)

    def _statement(self, statement: cst.CSTNode) -> None:
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                self._small(small)
        elif isinstance(statement, cst.If | cst.While | cst.For):
            self._branches(statement)
        elif isinstance(statement, cst.With):
            for item in statement.items:
                self.expr(item.item)
            self._suite(statement.body)
        elif isinstance(statement, cst.Try):
            self._suite(statement.body)
            for handler in statement.handlers:
                self._suite(handler.body)

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
        if statement.orelse is not None:
            self._else(statement.orelse)
        self._guard -= 1
        for name in set(taken) | set(self.env):
            one, other = taken.get(name), self.env.get(name)
            if one is not other:
                tensorish = any(b is not None and b.tensorish for b in (one, other))
                self.env[name] = self.fresh(tensorish)

    def _else(self, orelse: cst.CSTNode) -> None:
        if isinstance(orelse, cst.If):
            self._statement(orelse)
        else:
            self._suite(orelse.body)  # type: ignore[attr-defined]

    def _small(self, small: cst.CSTNode) -> None:
        if isinstance(small, cst.Assign):
            binding = self._value(small.value)
            for target in small.targets:
                self._bind(target.target, binding)
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            self._bind(small.target, self._value(small.value))
        elif isinstance(small, cst.AugAssign):
            left = self.expr(small.target)
            right = self.expr(small.value)
            if isinstance(small.operator, cst.AddAssign):
                self._record_add(small, small.target, small.value, left, right)
            old = self.env.get(_name(small.target) or "")
            self._bind(small.target, self.fresh(old is not None and old.tensorish))
        elif isinstance(small, cst.Expr | cst.Return) and small.value is not None:
            self.expr(small.value)

    def _bind(self, target: cst.BaseExpression, binding: Binding | None) -> None:
        if isinstance(target, cst.Name):
            self.env[target.value] = binding or self.fresh()
        elif isinstance(target, cst.Tuple | cst.List):
            for element in target.elements:
                self._bind(element.value, None)

    def _value(self, value: cst.BaseExpression) -> Binding:
        if isinstance(value, cst.Name) and value.value in self.env:
            return self.env[value.value]  # an alias: the very same value
        flow = self.expr(value)
        tensorish = isinstance(value, cst.Call) and self._tensor_call(value)
        source = None
        if isinstance(value, cst.Call) and value.args and self._submodule(value.func):
            name = _name(value.args[0].value)
            if name in self.env:
                source = (name, self.env[name])
        if flow is None:
            return Binding(self.fresh().flow, tensorish, source)
        return Binding(flow, tensorish or bool(flow.steps), source)

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
            return binding.flow if binding else None
        if isinstance(node, cst.Call):
            return self._call(node)
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
        for child in _child_expressions(node):
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

    def _record_add(
        self,
        node: cst.BinaryOperation | cst.AugAssign,
        left: cst.BaseExpression,
        right: cst.BaseExpression,
        left_flow: Flow | None,
        right_flow: Flow | None,
    ) -> None:
        bindings = (self.env.get(_name(left) or ""), self.env.get(_name(right) or ""))
        self.adds.append(
            Add(
                node,
                left,
                right,
                (left_flow, right_flow),
                bindings,
                self._guard > 0,
                dict(self.env),
            )
        )


def _name(node: cst.BaseExpression) -> str | None:
    return node.value if isinstance(node, cst.Name) else None


def _child_expressions(node: cst.CSTNode) -> Iterator[cst.BaseExpression]:
    for child in iter_children(node):
        if isinstance(child, cst.BaseExpression):
            yield child
        elif not isinstance(child, cst.BaseSuite):
            yield from _child_expressions(child)


# -- helpers for rules ----------------------------------------------------------


def torch_nn_expression(
    rule: Rule, name: str, hint: cst.BaseExpression | None = None
) -> cst.BaseExpression | None:
    """An expression for ``torch.nn.<name>`` spelled with this file's own imports (the
    alias ``hint`` used: ``tnn.Linear`` -> ``tnn.ModuleList``); None if none fits."""
    target = f"torch.nn.{name}"
    if (
        isinstance(hint, cst.Attribute)
        and rule.qualified_name(hint.value) == "torch.nn"
    ):
        return cst.Attribute(value=hint.value, attr=cst.Name(name))
    aliases = rule.context.imports.aliases
    for wanted, suffix in (
        (target, ""),
        ("torch.nn", f".{name}"),
        ("torch", f".nn.{name}"),
    ):
        for local, qualified in aliases.items():
            if qualified == wanted:
                return cst.parse_expression(local + suffix)
    return None


def is_module_constructor(
    rule: Rule, call: cst.BaseExpression, model: FileModel
) -> bool:
    """``nn.Linear(...)``, ``nn.Sequential(...)`` or a call of a local nn.Module,
    leaving out modules with no parameters, buffers or train/eval behaviour (losses,
    activations, pooling): keeping those in a plain list is harmless."""
    if not isinstance(call, cst.Call):
        return False
    qualified = rule.qualified_name(call.func)
    if qualified is not None:
        head, _, last = qualified.rpartition(".")
        return (
            head == "torch.nn"
            and last[:1].isupper()
            and not last.startswith(("Parameter", "Uninitialized", "Module"))
            and not last.endswith(("Loss", "Pool1d", "Pool2d", "Pool3d"))
            and qualified not in _STATELESS
        ) or qualified in ("torch.nn.ModuleList", "torch.nn.ModuleDict")
    local = model.by_name.get(dotted_name(call.func) or "")
    return local is not None and local.is_module
