"""Trace a model into a graph whose nodes remember the user's source line.

Symbolic tracing comes first: it keeps ``nn`` modules as ``call_module`` nodes, runs no
tensor maths and cannot be fooled by values. Where it fails (shape-dependent Python
control flow, ``assert x.shape[-1] == d``), ``torch.export`` in non-strict mode runs the
model on fake tensors and usually captures it. Data-dependent control flow defeats both:
the caller reports that as one informational finding with the reason.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
import types
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn

from nnlint.fx.graph import GraphView
from nnlint.fx.inputs import ExampleInputs
from nnlint.fx.locations import user_frame
from nnlint.fx.quiet import quiet

_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__))


class StackTracer(fx.Tracer):
    """The default tracer (``nn`` modules are leaves) that records, for every node, the
    user's frame that created it, in ``node.meta["stack_trace"]``.

    fx's own ``record_stack_traces`` symbolises the whole stack through
    ``CapturedTraceback``, whose first use imports ``torch._inductor`` (2-7 s); walking
    the frames to the innermost user frame is all a finding needs.
    """

    def __init__(self) -> None:
        super().__init__()
        # Buffers become graph nodes too, so ``self.mask[:T]`` with a traced T works.
        self.proxy_buffer_attributes = True

    def trace(self, root: Any, concrete_args: Any = None) -> fx.Graph:
        # Frames above this one (whoever called graph mode) are never the model's code.
        self._entry = sys._getframe()
        return super().trace(root, concrete_args)

    def create_node(self, *args: Any, **kwargs: Any) -> fx.Node:
        node = super().create_node(*args, **kwargs)
        frame = user_caller(getattr(self, "_entry", None))
        if frame is not None:
            node.meta["stack_trace"] = (
                f'File "{frame.f_code.co_filename}", line {frame.f_lineno}, '
                f"in {frame.f_code.co_name}\n"
            )
        return node


_LIBRARY_DIRS = (
    os.path.join(_TORCH_DIR, ""),
    os.path.join(os.path.dirname(__file__), ""),
)


def user_caller(stop: types.FrameType | None) -> types.FrameType | None:
    """The innermost frame below ``stop`` on the current stack outside torch/nnlint."""
    frame = sys._getframe(1)
    while frame is not None and frame is not stop:
        if _is_user_file(frame.f_code.co_filename):
            return frame
        frame = frame.f_back  # type: ignore[assignment]
    return None


@functools.lru_cache(maxsize=4096)
def _is_user_file(filename: str) -> bool:
    # Asked for every frame of every node: a recording stamps hundreds of nodes.
    return not filename.startswith("<") and not os.path.abspath(filename).startswith(
        _LIBRARY_DIRS
    )


@dataclass
class TraceResult:
    view: GraphView | None
    # Why tracing failed, and where in the user's code (when the traceback shows it).
    reason: str | None = None
    where: tuple[str, int] | None = None


def trace(
    model: nn.Module, example_inputs: ExampleInputs | tuple[Any, ...]
) -> TraceResult:
    """A :class:`GraphView` of ``model``; symbolic tracing, then ``torch.export``.
    A plain tuple is positional inputs."""
    if not isinstance(example_inputs, ExampleInputs):
        example_inputs = ExampleInputs(tuple(example_inputs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            graph = StackTracer().trace(model, example_inputs.concrete or None)
            module = fx.GraphModule(model, graph)
            return TraceResult(GraphView(module.graph, model, module=module))
        except Exception as symbolic_error:  # any user code may raise anything
            first = _reason(symbolic_error)
            where = _where(symbolic_error)
        try:
            with quiet():
                return TraceResult(_export(model, example_inputs))
        except Exception as export_error:
            reason = f"{first}; torch.export: {_reason(export_error)}"
            return TraceResult(None, reason, where or _where(export_error))


def _export(model: nn.Module, example_inputs: ExampleInputs) -> GraphView:
    device = next((p.device for p in model.parameters()), torch.device("cpu"))

    def real(x: Any) -> Any:
        # Example inputs given as shapes are meta tensors; export needs the device.
        if isinstance(x, torch.Tensor) and x.is_meta:
            return torch.zeros(x.shape, dtype=x.dtype, device=device)
        return x

    keywords = example_inputs.keywords
    if keywords is None:
        args, kwargs = tuple(real(x) for x in example_inputs.args), None
    else:
        args, kwargs = (), {name: real(x) for name, x in keywords.items()}
    program = torch.export.export(model, args, kwargs, strict=False)
    signature = program.graph_signature
    return GraphView(
        program.graph_module.graph,
        model,
        exported=True,
        lifted=dict(signature.inputs_to_parameters),
        user_inputs=frozenset(signature.user_inputs),
    )


def _reason(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = lines[0].split(" (unhinted")[0] if lines else ""
    return f"{type(error).__name__}: {text}"[:300]


def _where(error: BaseException) -> tuple[str, int] | None:
    stack = "".join(traceback.format_tb(error.__traceback__))
    return user_frame(stack, [_TORCH_DIR])
