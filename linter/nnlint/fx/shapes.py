"""Shape propagation on fake tensors: every node gets ``node.meta["val"]``.

Parameters, buffers and inputs are converted to fake tensors (shape, dtype, device; no
storage), so a large model costs no activation memory and the real module is never
mutated: a BatchNorm's running-statistics update lands on its fake buffers.
Propagation stops at the first node that raises; that node and the error are returned
(an add of ``(B, T, 64)`` and ``(B, T, 128)`` fails exactly there).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import fx
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.func import functional_call

from nnlint.fx.graph import GraphView, ShapeFailure
from nnlint.fx.quiet import quiet


class _FakeInterpreter(fx.Interpreter):
    def __init__(self, view: GraphView, mode: FakeTensorMode) -> None:
        super().__init__(view.gm)
        self.mode = mode
        state = dict(view.model.named_parameters(remove_duplicate=False))
        state.update(view.model.named_buffers(remove_duplicate=False))
        self.fake = {name: mode.from_tensor(t) for name, t in state.items()}
        self.current: fx.Node | None = None

    def run_node(self, n: fx.Node) -> Any:
        self.current = n
        result = super().run_node(n)
        n.meta["val"] = result
        return result

    def get_attr(self, target: Any, args: Any, kwargs: Any) -> Any:
        if target in self.fake:
            return self.fake[target]
        value = super().get_attr(target, args, kwargs)
        return self._fake(value)

    def call_module(self, target: Any, args: Any, kwargs: Any) -> Any:
        module = self.fetch_attr(target)
        prefix = f"{target}."
        state = {
            name[len(prefix) :]: t
            for name, t in self.fake.items()
            if name.startswith(prefix)
        }
        return functional_call(module, state, args, kwargs)

    def _fake(self, value: Any) -> Any:
        if isinstance(value, torch.Tensor) and not isinstance(
            value, torch._subclasses.FakeTensor
        ):
            return self.mode.from_tensor(value)
        return value


def propagate(view: GraphView, example_inputs: tuple[Any, ...]) -> ShapeFailure | None:
    """Record ``node.meta["val"]`` for every node of a symbolically traced graph."""
    if view.exported:
        return None  # torch.export already propagated fake values
    mode = FakeTensorMode(allow_non_fake_inputs=False)
    interpreter = _FakeInterpreter(view, mode)
    try:
        with quiet(), mode:
            inputs = [_fake_input(interpreter, value) for value in example_inputs]
            interpreter.run(*inputs)
    except Exception as error:  # user code and shape errors alike
        node = interpreter.current or next(iter(view.gm.graph.nodes))
        return ShapeFailure(node, _message(error))
    return None


def _fake_input(interpreter: _FakeInterpreter, value: Any) -> Any:
    """A fake tensor for an example input; ``meta`` inputs (shapes from config) move to
    the model's device, still without memory (we are inside the fake mode)."""
    if isinstance(value, torch.Tensor) and value.is_meta:
        return torch.empty(value.shape, dtype=value.dtype, device=model_device(interpreter))
    return interpreter._fake(value)


def model_device(interpreter: _FakeInterpreter) -> torch.device:
    for tensor in interpreter.fake.values():
        return tensor.device
    return torch.device("cpu")


def _message(error: BaseException) -> str:
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]
