"""What ``self.X`` is: a per-file table of each nn.Module class, computed once per file.

Several initialisation and structure rules ask the same questions about a class: what
was ``self.fc`` constructed as, with which arguments, what a ``nn.Sequential`` holds,
and which submodule's output reaches which other submodule in ``forward``. The answers
come from one pass over the file, cached on the module object, and shared by every rule
that asks. The forward data flow lives in ``nnlint.analysis.forward_flow``, the layer
vocabulary in ``nnlint.analysis.layer_kinds``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import libcst as cst

from nnlint.analysis.forward_flow import ForwardFlow
from nnlint.analysis.layer_kinds import SEQUENTIAL
from nnlint.analysis.method_syntax import self_assignments
from nnlint.analysis.names import dotted_name
from nnlint.rules.base import Rule

Resolve = Callable[[cst.BaseExpression], "str | None"]

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
