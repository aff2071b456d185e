"""A read-only view over a traced graph that rules query instead of raw fx nodes.

Symbolic tracing (``torch.fx``, leaf ``nn`` modules kept as ``call_module`` nodes) and
the ``torch.export`` fallback (ATen ops, modules known from ``nn_module_stack``) spell
the same operation differently; :meth:`GraphView.kind` gives both one canonical name
(``"softmax"``, ``"add"``, ``"linear"``, ...), so every rule works on either graph.
"""

from __future__ import annotations

import functools
import operator
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn

from nnlint.fx.locations import Position, position, user_frame
from nnlint.fx.ops import canonical
from nnlint.fx.traversal import walk

_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__))
_INPLACE_OPERATORS = {operator.iadd, operator.imul, operator.isub}
_MODULE_KINDS: tuple[tuple[type[nn.Module], str], ...] = (
    (nn.Linear, "linear"),
    (nn.modules.conv._ConvNd, "conv"),
    (nn.modules.batchnorm._BatchNorm, "batch_norm"),
    (nn.LayerNorm, "layer_norm"),
    (nn.GroupNorm, "group_norm"),
    (nn.Softmax, "softmax"),
    (nn.LogSoftmax, "log_softmax"),
    (nn.Sigmoid, "sigmoid"),
    (nn.ReLU, "relu"),
    (nn.Dropout, "dropout"),
    (nn.Identity, "identity"),
    (nn.Flatten, "flatten"),
    (nn.Embedding, "embedding"),
)


@dataclass
class ShapeFailure:
    """Shape propagation stopped at ``node`` with ``error`` (e.g. an add that fails)."""

    node: fx.Node
    error: str


@dataclass
class GraphView:
    graph: fx.Graph
    model: nn.Module
    # Symbolic tracing only: the module shape propagation interprets. A recording has
    # no module: building one generates the graph's Python code, which no rule reads.
    module: fx.GraphModule | None = None
    exported: bool = False
    # export: placeholder name -> parameter/buffer qualified name
    lifted: dict[str, str] = field(default_factory=dict)
    # export: placeholder names of the model's own inputs (the rest is lifted state)
    user_inputs: frozenset[str] = frozenset()
    # Recorded from one real forward (``nnlint.fx.recording``): shapes are real.
    recorded: bool = False
    loss: str | None = None
    failure: ShapeFailure | None = None
    # kind() per node: every rule asks it of most nodes, and rules never edit the graph.
    _kinds: dict[fx.Node, tuple[str | None, bool]] = field(
        default_factory=dict, repr=False, compare=False
    )
    # Submodules by qualified name, looked up once: rules ask for the module of the
    # same node many times, and ``get_submodule`` walks the path on every call.
    _submodules: dict[str, nn.Module] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def nodes(self) -> list[fx.Node]:
        return list(self.graph.nodes)

    @property
    def output(self) -> fx.Node:
        return next(n for n in reversed(self.graph.nodes) if n.op == "output")

    def module_of(self, node: fx.Node) -> tuple[str, nn.Module] | None:
        """The ``nn.Module`` (qualified name, instance) this node is a call of."""
        if node.op == "call_module":
            return str(node.target), self.submodule(str(node.target))
        if self.exported and node.op == "call_function":
            stack = node.meta.get("nn_module_stack") or {}
            if stack:
                path = list(stack.values())[-1][0]
                try:
                    return path, self.submodule(path)
                except AttributeError:
                    return None
        return None

    def submodule(self, path: str) -> nn.Module:
        """``model.get_submodule(path)``, remembered (raises AttributeError alike)."""
        found = self._submodules.get(path)
        if found is None:
            found = self._submodules[path] = self.model.get_submodule(path)
        return found

    def kind(self, node: fx.Node) -> tuple[str | None, bool]:
        """Canonical ``(kind, inplace)`` of ``node``; kind None for unknown ops."""
        known = self._kinds.get(node)
        if known is None:
            known = self._kinds[node] = self._kind(node)
        return known

    def _kind(self, node: fx.Node) -> tuple[str | None, bool]:
        if node.op == "call_module":
            module = self.submodule(str(node.target))
            inplace = bool(getattr(module, "inplace", False))
            for cls, kind in _MODULE_KINDS:
                if isinstance(module, cls):
                    return kind, inplace
            return f"module:{type(module).__name__}", inplace
        if node.op == "call_method":
            return canonical(str(node.target))
        if node.op == "call_function":
            target = node.target
            if target is getattr and len(node.args) > 1:  # ``x.data`` while tracing
                return str(node.args[1]), False
            if target in _INPLACE_OPERATORS:
                return canonical(target.__name__)[0], True
            name = getattr(target, "__name__", None) or str(target)
            kind, inplace = canonical(name)
            return kind, inplace or node.kwargs.get("inplace") is True
        return node.op, False

    def op(self, node: fx.Node) -> str | None:
        return self.kind(node)[0]

    def shape(self, node: Any) -> tuple[int, ...] | None:
        if not isinstance(node, fx.Node):
            return None
        value = node.meta.get("val")
        if isinstance(value, torch.Tensor):
            return tuple(int(s) for s in value.shape)
        return None

    def tensor_inputs(self, node: fx.Node) -> list[fx.Node]:
        """Data inputs of ``node``: tensors, without an exported graph's lifted
        parameters and buffers (a symbolic graph keeps those inside ``call_module``)."""
        inputs = [
            a
            for a in node.all_input_nodes
            if not (
                self.exported
                and a.op == "placeholder"
                and a.name not in self.user_inputs
            )
        ]
        return [a for a in inputs if self.shape(a) is not None] or inputs

    def parameter_users(self) -> dict[str, list[fx.Node]]:
        """Parameter qualified name -> the nodes that consume it directly. Worked out
        once per graph (rules never edit it); callers must not change the result."""
        return self._parameter_users

    @functools.cached_property
    def _parameter_users(self) -> dict[str, list[fx.Node]]:
        users: dict[str, list[fx.Node]] = {}
        for node in self.graph.nodes:
            for name in self._parameters_read(node):
                users.setdefault(name, []).append(node)
        return users

    @functools.cached_property
    def _parameter_names(self) -> frozenset[str]:
        named = self.model.named_parameters(remove_duplicate=False)
        return frozenset(name for name, _ in named)

    def _parameters_read(self, node: fx.Node) -> Iterator[str]:
        if node.op == "call_module":
            module = self.submodule(str(node.target))
            for name, _ in module.named_parameters(prefix=str(node.target)):
                yield name
        elif node.op == "get_attr" and str(node.target) in self._parameter_names:
            yield str(node.target)
        elif node.op == "placeholder" and node.name in self.lifted and node.users:
            yield self.lifted[node.name]

    def position(self, node: fx.Node, hint: str | None = None) -> Position | None:
        """Where the user wrote the code that created ``node``."""
        trace = node.meta.get("stack_trace") or getattr(node, "stack_trace", None)
        found = user_frame(trace, [_TORCH_DIR])
        if found is None:
            return None
        if hint is None and node.op == "call_module":
            hint = f"{str(node.target).rsplit('.', 1)[-1]}("
        return position(found[0], found[1], hint)

    def reaches_output(self) -> set[fx.Node]:
        """Nodes with a path to the output that no ``detach`` cuts (gradient flows)."""

        # Gradient stops at a detach: its inputs do not train through it. An in-place
        # op (``out.index_add_(0, i, h)``, ``x[m] = v``) writes into its first argument:
        # whoever reads that tensor afterwards by its earlier name reads the write too.
        def inputs(node: fx.Node) -> list[fx.Node]:
            if self.op(node) in ("detach", "data"):
                return []
            return [*node.all_input_nodes, *self._writes_into(node)]

        return set(walk([self.output], inputs))

    def _writes_into(self, node: fx.Node) -> list[fx.Node]:
        return [
            user
            for user in node.users
            if user.args
            and user.args[0] is node
            and (self.kind(user)[1] or self.op(user) == "setitem")
        ]
