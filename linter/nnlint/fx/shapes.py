"""Shape propagation on fake tensors: every node gets ``node.meta["val"]``.

Parameters, buffers and inputs are converted to fake tensors (shape, dtype, device; no
storage), so a large model costs no activation memory and the real module is never
mutated: a BatchNorm's running-statistics update lands on its fake buffers.
Propagation stops at the first node that raises; that node and the error are returned
(an add of ``(B, T, 64)`` and ``(B, T, 128)`` fails exactly there).
"""

from __future__ import annotations

import os
import traceback
from typing import Any

import torch
from torch import fx, nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.func import functional_call

from nnlint.fx.graph import GraphView, ShapeFailure
from nnlint.fx.locations import user_frame
from nnlint.fx.quiet import quiet


def fake_state(model: nn.Module, mode: FakeTensorMode) -> dict[str, torch.Tensor]:
    """Every parameter and buffer of ``model`` (tied ones under each name) as a fake
    tensor: same shape, dtype and device, no storage."""
    state: list[tuple[str, torch.Tensor]] = [
        *model.named_parameters(remove_duplicate=False),
        *model.named_buffers(remove_duplicate=False),
    ]
    return {name: mode.from_tensor(tensor) for name, tensor in state}


class _FakeInterpreter(fx.Interpreter):
    def __init__(
        self, view: GraphView, module: fx.GraphModule, mode: FakeTensorMode
    ) -> None:
        super().__init__(module)
        self.mode = mode
        self.model = view.model
        self.current: fx.Node | None = None

    def run_node(self, n: fx.Node) -> Any:
        self.current = n
        result = super().run_node(n)
        n.meta["val"] = result
        return result

    # Tensors become fake when a node first reads them, not all up front: a module
    # whose shape rule needs none (batch norm) never converts its four tensors, and a
    # call reads its own module's tensors instead of filtering the whole model's.
    # ``from_tensor`` memoises per tensor, so a tied weight is one fake everywhere.
    def get_attr(self, target: Any, args: Any, kwargs: Any) -> Any:
        return self._fake(super().get_attr(target, args, kwargs))

    def call_module(self, target: Any, args: Any, kwargs: Any) -> Any:
        module = self.fetch_attr(target)
        if isinstance(module, _SHAPE_PRESERVING) and args and not kwargs:
            return _same_shape(module, args[0])
        state: dict[str, torch.Tensor] = {
            name: self.mode.from_tensor(tensor)
            for name, tensor in (
                *module.named_parameters(remove_duplicate=False),
                *module.named_buffers(remove_duplicate=False),
            )
        }
        return functional_call(module, state, args, kwargs)

    def _fake(self, value: Any) -> Any:
        if isinstance(value, torch.Tensor) and not isinstance(
            value, torch._subclasses.FakeTensor
        ):
            return self.mode.from_tensor(value)
        return value


# Modules whose output has their input's shape. Fake batch norm in training mode
# decomposes into a dozen ops (~50 ms each on a loaded CPU); the shape needs none.
_SHAPE_PRESERVING = (
    nn.modules.batchnorm._BatchNorm,
    nn.Dropout,
    nn.ReLU,
    nn.GELU,
    nn.SiLU,
    nn.Identity,
)


def _same_shape(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    features = getattr(module, "num_features", None)
    if features is not None and (x.dim() < 2 or x.shape[1] != features):
        raise RuntimeError(
            f"{type(module).__name__}({features}) got input of shape {tuple(x.shape)}"
        )
    # The input's own fake value: only its shape is read, and a new fake tensor costs
    # a dispatch through fake mode (~0.3 ms) per normalisation layer.
    return x


def propagate(view: GraphView, example_inputs: tuple[Any, ...]) -> ShapeFailure | None:
    """Record ``node.meta["val"]`` for every node of a symbolically traced graph."""
    if view.module is None:
        return None  # torch.export propagated fake values; a recording has real ones
    mode = FakeTensorMode(allow_non_fake_inputs=False)
    interpreter = _FakeInterpreter(view, view.module, mode)
    try:
        with quiet(), mode:
            inputs = [_fake_input(interpreter, value) for value in example_inputs]
            interpreter.run(*inputs)
    except Exception as error:  # user code and shape errors alike
        node = interpreter.current or next(iter(view.graph.nodes))
        return ShapeFailure(node, _message(error))
    return None


def eager_failure(
    model: nn.Module,
    example_inputs: tuple[Any, ...],
    keywords: dict[str, Any] | None = None,
) -> tuple[str, tuple[str, int] | None] | None:
    """When no tracer captures the model: run ``forward`` eagerly on fake tensors. An
    error that is not about data-dependent control flow (a shape mismatch, a wrong
    width) is the model's bug: ``(message, user line)``. None if it runs, or if only
    tensor *values* stop it (then the model is untraceable, not broken)."""
    mode = FakeTensorMode()
    fake = fake_state(model, mode)
    device = next(iter(fake.values())).device if fake else torch.device("cpu")

    def empty(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            return torch.empty(x.shape, dtype=x.dtype, device=device)
        return x

    try:
        with quiet(), mode:
            if keywords is None:
                functional_call(model, fake, tuple(empty(x) for x in example_inputs))
            else:
                named = {name: empty(x) for name, x in keywords.items()}
                functional_call(model, fake, (), named)
    except Exception as error:
        if _data_dependent(error):
            return None
        stack = "".join(traceback.format_tb(error.__traceback__))
        return _message(error), user_frame(stack, [os.path.dirname(torch.__file__)])
    return None


def _data_dependent(error: BaseException) -> bool:
    names = " ".join(cls.__name__ for cls in type(error).__mro__)
    text = str(error).lower()
    return (
        "DataDependent" in names
        or "DynamicOutputShape" in names
        or "data-dependent" in text
        or "data dependent" in text
    )


def _fake_input(interpreter: _FakeInterpreter, value: Any) -> Any:
    """A fake tensor for an example input; ``meta`` inputs (shapes from config) move to
    the model's device, still without memory (we are inside the fake mode)."""
    if isinstance(value, torch.Tensor) and value.is_meta:
        return torch.empty(
            value.shape, dtype=value.dtype, device=model_device(interpreter)
        )
    return interpreter._fake(value)


def model_device(interpreter: _FakeInterpreter) -> torch.device:
    model = interpreter.model
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _message(error: BaseException) -> str:
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]
