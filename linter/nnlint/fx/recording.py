"""Record a model's graph from one real forward pass (the route ``check()`` takes).

``check()`` holds a real model and a real batch, so it need not guess what ``forward``
does: it runs it once, without gradients, and writes down what ran. A
``TorchFunctionMode`` sees every torch function, ``torch.nn.functional`` function and
tensor method or operator called outside leaf modules; global module hooks mark the
calls of leaf modules, chosen by the same rule as the symbolic tracer
(``fx.Tracer.is_leaf_module``), so the graph has the nodes a symbolic trace has:
``call_module`` for leaves, ``call_function``/``call_method`` for the rest, ``get_attr``
for parameters and buffers read directly. Each node's ``meta["val"]`` is a meta tensor
of the real shape (no activation is kept) and ``meta["stack_trace"]`` the user's line.

Tensors are matched to nodes by identity, through weak references (a dead tensor's id
can be reused by a new one, which is then told apart). An op that returns one of its
own inputs (``x.relu_()``, ``nn.ReLU(inplace=True)``, ``x.contiguous()``) hands back a
view of it instead: the data is shared, and the names that held the tensor before the
op keep their node, as variables keep their proxy in a symbolic trace.

The executed path is the graph, so data-dependent control flow is no failure here.
Anything that stops the recording (the forward raises, an argument fx cannot hold)
returns no view; the caller then takes the traced route, which reports failures.
"""

from __future__ import annotations

import inspect
import itertools
import operator
import sys
import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch import fx, nn
from torch.nn.modules import module as module_globals
from torch.overrides import TorchFunctionMode

from nnlint.fx.graph import GraphView
from nnlint.fx.inputs import ExampleInputs
from nnlint.fx.recorded_nodes import (
    LITERALS,
    alias,
    constant_name,
    flat_tensors,
    meta_of,
    plain,
    spelling,
    stamp,
    tensors_in,
    unused_getitems,
)
from nnlint.fx.tracing import TraceResult, _reason, _where


class Recorder(TorchFunctionMode):
    """Builds the graph while the model runs; see the module docstring."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.graph = fx.Graph()
        self.entry = sys._getframe(1)
        self.known: dict[int, tuple[weakref.ref[torch.Tensor], fx.Node]] = {}
        self.state = _state_names(model)
        self.paths = {id(m): name for name, m in model.named_modules() if name}
        self.leaves: dict[int, bool] = {}
        self.tracer = fx.Tracer()
        self.stack: list[nn.Module] = []  # leaf modules entered and not yet left
        self.constants = itertools.count()
        self.busy = False
        # Global module hooks fire in every thread; only this one is being recorded.
        self.thread = threading.get_ident()

    # -- torch functions outside leaf modules ------------------------------------
    def __torch_function__(
        self, func: Any, types: Any, args: Any = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.stack or self.busy:
            return out
        op, target, args = spelling(func, args)
        if target is not operator.setitem and not tensors_in(out):
            return out  # sizes, flags, Python numbers: never a graph value
        self.busy = True
        try:
            node = self.graph.create_node(op, target, self.arg(args), self.arg(kwargs))
            return self.bind(node, out, (args, kwargs))
        finally:
            self.busy = False

    # -- leaf modules ------------------------------------------------------------
    def enter(self, module: nn.Module, args: Any) -> None:
        if threading.get_ident() != self.thread:
            return
        if self.stack or self.is_leaf(module):
            self.stack.append(module)

    def leave(self, module: nn.Module, args: Any, kwargs: Any, output: Any) -> Any:
        if not self.stack or threading.get_ident() != self.thread:
            return None
        while self.stack and self.stack.pop() is not module:
            pass  # a module left by an exception caught inside the leaf
        if self.stack or self.busy:
            return None
        self.busy = True
        try:
            path = self.paths[id(module)]
            node = self.graph.call_module(path, self.arg(args), self.arg(kwargs))
            bound = self.bind(node, output, (args, kwargs))
            return None if bound is output else bound
        finally:
            self.busy = False

    def is_leaf(self, module: nn.Module) -> bool:
        known = self.leaves.get(id(module))
        if known is None:
            path = self.paths.get(id(module))
            # A module built inside forward is no submodule: record what it does.
            known = path is not None and self.tracer.is_leaf_module(module, path)
            self.leaves[id(module)] = known
        return known

    # -- values ------------------------------------------------------------------
    def arg(self, value: Any) -> Any:
        """``value`` with tensors replaced by their nodes, in fx's argument types."""
        if isinstance(value, torch.Tensor):
            return self.node_of(value)
        if isinstance(value, (tuple, list)):
            items = [self.arg(v) for v in value]
            return items if isinstance(value, list) else tuple(items)
        if isinstance(value, Mapping):
            return {k: self.arg(v) for k, v in value.items() if isinstance(k, str)}
        if isinstance(value, slice):
            return slice(
                self.arg(value.start), self.arg(value.stop), self.arg(value.step)
            )
        if value is None or value is Ellipsis or isinstance(value, LITERALS):
            return value
        return repr(value)  # fx holds literals only; no rule reads other objects

    def node_of(self, tensor: torch.Tensor) -> fx.Node:
        entry = self.known.get(id(tensor))
        if entry is not None and entry[0]() is tensor:
            return entry[1]
        name = self.state.get(id(tensor)) or constant_name(next(self.constants))
        node = self.graph.get_attr(name)
        node.meta["val"] = meta_of(tensor)
        stamp(node, self.entry)
        self.remember(tensor, node)
        return node

    def remember(self, tensor: torch.Tensor, node: fx.Node) -> None:
        self.known[id(tensor)] = (weakref.ref(tensor), node)

    def bind(self, node: fx.Node, out: Any, inputs: Any) -> Any:
        """Name ``out``'s tensors by ``node`` (getitem nodes for tuple items); an
        input handed back comes out as a view of itself (module docstring)."""
        stamp(node, self.entry)
        if isinstance(out, torch.Tensor):
            if any(out is t for t in flat_tensors(inputs)):
                out = alias(out)
            node.meta["val"] = meta_of(out)
            self.remember(out, node)
        elif isinstance(out, (tuple, list)):
            node.meta["val"] = tuple(meta_of(v) for v in out)
            for index, item in enumerate(out):
                if tensors_in(item):
                    part = self.graph.call_function(operator.getitem, (node, index))
                    self.bind(part, item, ())
        return out

    def output(self, value: Any) -> None:
        self.graph.output(self.arg(plain(value)))


def _state_names(model: nn.Module) -> dict[int, str]:
    """id -> first qualified name of every parameter and buffer."""
    names: dict[int, str] = {}
    for name, tensor in (
        *model.named_parameters(remove_duplicate=False),
        *model.named_buffers(remove_duplicate=False),
    ):
        names.setdefault(id(tensor), name)
    return names


def record(
    model: nn.Module, example_inputs: ExampleInputs | tuple[Any, ...]
) -> TraceResult:
    """A :class:`GraphView` of what ``model`` computes on ``example_inputs``, from one
    forward pass without gradients; the model's state is as before afterwards. No
    view (with the reason) when the forward raises or the graph cannot be built."""
    if not isinstance(example_inputs, ExampleInputs):
        example_inputs = ExampleInputs(tuple(example_inputs))
    recorder = Recorder(model)
    try:
        with _unchanged(model), torch.no_grad(), _eager(), _hooks(recorder):
            args, kwargs = _placeholders(recorder, model, example_inputs)
            with recorder:
                out = model(*args, **kwargs)
            recorder.output(out)
        for node in unused_getitems(recorder.graph):
            recorder.graph.erase_node(node)
    except Exception as error:  # the forward is user code: anything may raise
        return TraceResult(None, _reason(error), _where(error))
    # The graph alone, no ``fx.GraphModule``: building one generates and compiles the
    # graph's Python code (~20% of the graph step on a small Llama), which no rule
    # reads, and a recording's shapes are real, so nothing interprets the graph.
    return TraceResult(GraphView(recorder.graph, model, recorded=True))


@contextmanager
def _eager() -> Iterator[None]:
    """Functions compiled with ``torch.compile`` inside ``forward`` (a user's helper,
    torchvision's pure-Python RoIAlign) run eagerly while recording: compiled, dynamo
    traces into the recorder's own mode and hooks, recompiles on every op it meets
    there, and the recording fails (measured: 1.3 s, then a wrong-shaped value, on a
    two-layer model with one compiled helper)."""
    set_stance = getattr(torch.compiler, "set_stance", None)
    if set_stance is None or torch.compiler.is_compiling():
        yield
        return
    with set_stance("force_eager"):
        yield


@contextmanager
def _hooks(recorder: Recorder) -> Iterator[None]:
    with ExitStack() as stack:
        pre = module_globals.register_module_forward_pre_hook(recorder.enter)
        stack.callback(pre.remove)
        post = module_globals.register_module_forward_hook(
            recorder.leave, with_kwargs=True
        )
        stack.callback(post.remove)
        yield


@contextmanager
def _unchanged(model: nn.Module) -> Iterator[None]:
    """The forward runs in the model's own mode, so batch norm updates its running
    statistics and dropout draws random numbers: both are put back."""
    saved = [
        (owner, name, tensor, tensor.detach().clone())
        for owner in model.modules()
        for name, tensor in owner._buffers.items()
        if tensor is not None
    ]
    devices = sorted(
        {t.device.index or 0 for *_, t, _ in saved if t.device.type == "cuda"}
        | {p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"}
    )
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        with torch.no_grad():
            for owner, name, tensor, copy in saved:
                owner._buffers[name] = tensor
                tensor.copy_(copy)


def _placeholders(
    recorder: Recorder, model: nn.Module, inputs: ExampleInputs
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """One placeholder per input, named after ``forward``'s parameters; the values
    to call the model with (shape-only meta inputs become zeros on its device)."""
    device = next((p.device for p in model.parameters()), torch.device("cpu"))

    def real(x: Any) -> Any:
        if isinstance(x, torch.Tensor) and x.is_meta:
            return torch.zeros(x.shape, dtype=x.dtype, device=device)
        return x

    if inputs.keywords is not None:
        kwargs = {name: real(x) for name, x in inputs.keywords.items()}
        named: list[tuple[str, Any]] = list(kwargs.items())
        args: tuple[Any, ...] = ()
    else:
        args = tuple(real(x) for x in inputs.args)
        kwargs = {}
        named = list(zip(_positional_names(model, len(args)), args, strict=True))
    for name, value in named:
        node = recorder.graph.placeholder(name)
        recorder.bind(node, value, ())
    return args, kwargs


def _positional_names(model: nn.Module, count: int) -> list[str]:
    try:
        params = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        params = []  # type: ignore[assignment]
    names = [p.name for p in params if p.kind in _POSITIONAL]
    return (names + [f"arg{i}" for i in range(len(names), count)])[:count]


_POSITIONAL = (
    inspect.Parameter.POSITIONAL_ONLY,
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
)
