"""What ``self.X`` is: the one model of each class of a file, built once per file.

Several rules ask the same questions about a class: what ``self.fc`` was constructed
as, with which arguments, what a ``nn.Sequential`` holds, which submodule's output
reaches which other submodule in ``forward``, how ``self`` is used across the class.
:func:`file_model` is an analysis (``context.get(file_model)``): one model per file,
shared by every rule that asks; the costlier parts of a class's model (the ``self``
table, the forward data flow, the links) are computed the first time a rule asks.
The forward data flow lives in ``nnlint.analysis.forward_flow``, the layer vocabulary in
``nnlint.analysis.layer_kinds``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst

from nnlint.analysis.class_facts import ClassTable, MethodIndex, index_class
from nnlint.analysis.forward_chains import ForwardChains
from nnlint.analysis.forward_flow import ForwardFlow
from nnlint.analysis.layer_kinds import SEQUENTIAL
from nnlint.analysis.method_syntax import self_assignments
from nnlint.analysis.names import dotted_name
from nnlint.analysis.residual_sums import NormVocabulary, ResidualSums, norm_vocabulary
from nnlint.analysis.tensors import ProvableTensors
from nnlint.analysis.walk import walk

if TYPE_CHECKING:
    from nnlint.analysis.context import AnalysisContext
    from nnlint.analysis.norm_kinds import Link

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
    if type(value) is not cst.Call:
        return Layer(None, None)
    kind = resolve(value.func)
    name = dotted_name(value.func)
    if kind is None and name in local:
        kind = f"local.{name}"
    elements = None
    if kind == SEQUENTIAL and all(
        not a.star and a.keyword is None and type(a.value) is cst.Call
        for a in value.args
    ):
        elements = tuple(layer_of(a.value, resolve, local) for a in value.args)
    return Layer(kind, value, elements)


@dataclass
class ClassModel:
    """Everything the rules ask about one class, each part computed on first use:
    what ``self.X`` was built as, the ``self`` table and method indexes
    (:mod:`nnlint.analysis.class_facts`), the data flow of each ``forward*`` method
    (:mod:`nnlint.analysis.forward_flow`), its provable tensors
    (:mod:`nnlint.analysis.tensors`) and the "A feeds B" links of its methods."""

    node: cst.ClassDef
    is_module: bool
    methods: dict[str, cst.FunctionDef]
    # self.X = value in every method but forward, in source order.
    assigned: dict[str, list[cst.BaseExpression]]
    layers: dict[str, list[Layer]]  # the constructor calls among those values
    init_params: tuple[str, ...]
    resolve: Resolve
    _flows: dict[cst.FunctionDef, ForwardFlow] = field(default_factory=dict)
    _tensors: dict[cst.FunctionDef, ProvableTensors] = field(default_factory=dict)
    _index: tuple[ClassTable, list[MethodIndex]] | None = None
    _links: dict[frozenset[str], list[Link]] = field(default_factory=dict)

    def release(self) -> None:
        """Forget the parts computed on demand (each refers back to the model)."""
        self._flows.clear()
        self._tensors.clear()
        self._links.clear()
        self._index = None
        self.__dict__.pop("norm_vocabulary", None)

    def layer(self, attr: str) -> Layer | None:
        """The constructor call ``self.attr`` was assigned, if assigned once."""
        found = self.layers.get(attr, [])
        if len(found) == 1 and len(self.assigned.get(attr, [])) == 1:
            return found[0]
        return None

    def forward_methods(self) -> list[cst.FunctionDef]:
        return [fn for name, fn in self.methods.items() if name.startswith("forward")]

    def flow(self, function: cst.FunctionDef) -> ForwardFlow:
        """The data flow of one method, walked once (``forward*`` methods; NNL401
        asks for every method of a class that calls a norm)."""
        if function not in self._flows:
            vocabulary, sums = self.norm_vocabulary, None
            if vocabulary is not None:
                sums = ResidualSums(vocabulary, self.resolve)
            self._flows[function] = ForwardFlow(self, self.resolve, sums).run(function)
        return self._flows[function]

    @cached_property
    def norm_vocabulary(self) -> NormVocabulary | None:
        """The norms the class calls (None: none, no residual sums to track)."""
        return norm_vocabulary(self)

    def tensors(self, function: cst.FunctionDef) -> ProvableTensors:
        """The values of one ``forward*`` method that are provably tensors."""
        if function not in self._tensors:
            self._tensors[function] = ProvableTensors(self, function)
        return self._tensors[function]

    @property
    def table(self) -> ClassTable:
        """``self.<attr>`` kinds and uses over the whole class body."""
        return self._indexed()[0]

    @property
    def indexes(self) -> list[MethodIndex]:
        """Calls, suites and names of each method but ``__init__``."""
        return self._indexed()[1]

    def _indexed(self) -> tuple[ClassTable, list[MethodIndex]]:
        if self._index is None:
            self._index = index_class(self.node, self.resolve)
        return self._index

    def links(self, through: frozenset[str] = frozenset()) -> list[Link]:
        """ "A feeds B" links of the methods (NNL402-NNL404 ask with two ``through``
        sets); calls of a kind in ``through`` are looked through."""
        if through not in self._links:
            chains = ForwardChains(self.table, self.indexes, self.resolve)
            self._links[through] = list(chains.links(through))
        return self._links[through]


@dataclass
class FileModel:
    classes: dict[cst.ClassDef, ClassModel]
    by_name: dict[str, ClassModel]

    def release(self) -> None:
        """Cut the links between each class model and its parts (see
        ``AnalysisContext.close``)."""
        for model in self.classes.values():
            model.release()


def file_model(context: AnalysisContext) -> FileModel:
    """Every class of the file, modelled (an analysis: ``context.get(file_model)``)."""
    return _build(context.module, context.resolve)


def class_model(context: AnalysisContext, node: cst.ClassDef) -> ClassModel:
    """The model of ``node``, a class of the file ``context`` is about."""
    model = context.get(file_model)
    found = model.classes.get(node)
    if found is None:  # a class where no statement walk looks (inside ``match``)
        found = _class_model(node, context.resolve, model, {node.name.value})
        model.classes[node] = found
    return found


def module_class(context: AnalysisContext, node: cst.ClassDef) -> ClassModel | None:
    """The model of ``node`` if it is a torch ``nn.Module`` subclass, else None."""
    found = context.get(file_model).classes.get(node)
    return found if found is not None and found.is_module else None


def name_calls(context: AnalysisContext) -> dict[str, list[cst.Call]]:
    """Every call of a bare name in the file (``Block(64, 128)``), by that name."""
    index: dict[str, list[cst.Call]] = {}
    for node in walk(context.module):
        if type(node) is cst.Call and type(node.func) is cst.Name:
            index.setdefault(node.func.value, []).append(node)
    return index


def _build(module: cst.Module, resolve: Resolve) -> FileModel:
    class_nodes = list(_class_defs(module))
    local = {n.name.value for n in class_nodes}
    model = FileModel({}, {})
    for node in class_nodes:
        classes = _class_model(node, resolve, model, local)
        model.classes[node] = classes
        model.by_name.setdefault(node.name.value, classes)
    return model


def _class_model(
    node: cst.ClassDef, resolve: Resolve, model: FileModel, local: set[str]
) -> ClassModel:
    methods = {s.name.value: s for s in node.body.body if type(s) is cst.FunctionDef}
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
    classes = ClassModel(node, False, methods, assigned, layers, params, resolve)
    classes.is_module = _is_module(node, resolve, model.by_name, methods)
    return classes


def _alternatives(values: list[cst.BaseExpression]) -> Iterator[cst.BaseExpression]:
    for value in values:
        if type(value) is cst.IfExp:
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
        if type(child) is cst.ClassDef:
            yield child
        yield from _class_defs(child)


def _statements(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """The statements directly inside ``node``'s blocks (fields read directly)."""
    if type(node) is cst.Module or type(node) is cst.IndentedBlock:
        for statement in node.body:
            if type(statement) is not cst.SimpleStatementLine:
                yield statement
        return
    for name in ("body", "orelse", "finalbody"):
        block = getattr(node, name, None)
        if type(block) is cst.IndentedBlock:
            yield from _statements(block)
        elif (
            type(block) is cst.Else
            or type(block) is cst.Finally
            or type(block) is cst.If
        ):
            yield block
    yield from getattr(node, "handlers", ())
