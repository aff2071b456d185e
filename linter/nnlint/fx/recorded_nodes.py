"""How a recorded call becomes an fx node, and the values a recording handles.

A ``TorchFunctionMode`` hands over the function object that ran. Symbolic tracing
writes ``x.add(y)`` as ``call_method`` ``add`` and ``x + y`` as ``operator.add``; the
mode sees both as the method ``Tensor.add``, so a recording writes ``call_method`` with
the method's name for either (``GraphView.kind`` gives both the kind ``"add"``, which is
all a rule reads). Property reads (``x.T``, ``x.data``) become ``getattr(x, name)`` and
indexing ``operator.getitem``/``setitem``, as in a symbolic trace; everything else
(``torch.*``, ``torch.nn.functional.*``) is ``call_function`` of the function itself.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import fx

from nnlint.fx.tracing import user_caller

_INDEXING = {"__getitem__": operator.getitem, "__setitem__": operator.setitem}
_SPELLINGS: dict[Any, tuple[str, Any]] = {}


def spelling(func: Any, args: Any) -> tuple[str, Any, Any]:
    """``(op, target, args)`` of the node for a call of ``func`` on ``args``."""
    known = _SPELLINGS.get(func)
    if known is None:
        known = _SPELLINGS[func] = _spell(func)
    op, target = known
    if target is getattr:  # a property read: the descriptor names the attribute
        return op, getattr, (args[0], getattr(func.__self__, "__name__", "?"))
    return op, target, args


def _spell(func: Any) -> tuple[str, Any]:
    name = getattr(func, "__name__", "")
    if name == "__get__":
        return "call_function", getattr
    if name in _INDEXING:
        return "call_function", _INDEXING[name]
    owner = getattr(func, "__qualname__", "").split(".")[0]
    if owner in ("TensorBase", "Tensor"):
        return "call_method", name
    return "call_function", func


def tensors_in(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, (tuple, list)):
        return any(tensors_in(v) for v in value)
    if isinstance(value, Mapping):
        return any(tensors_in(v) for v in value.values())
    return False


def alias(tensor: torch.Tensor) -> torch.Tensor:
    """A view of ``tensor`` sharing its data (module docstring); the tensor itself
    when its layout has no views (sparse, quantized)."""
    try:
        return tensor.view_as(tensor)
    except (RuntimeError, NotImplementedError):
        return tensor


LITERALS = (
    bool, int, float, complex, str, torch.dtype, torch.device, torch.layout,
    torch.memory_format,
)  # fmt: skip


def flat_tensors(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from flat_tensors(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from flat_tensors(item)


def plain(value: Any) -> Any:
    """A model output as tuples, lists and dicts: a transformers ``ModelOutput`` is an
    ordered dict of its fields that are set, a named tuple a tuple, another object
    (a dataclass) the dict of its attributes."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, torch.Tensor) or not hasattr(value, "__dict__"):
        return value
    fields = {k: v for k, v in vars(value).items() if tensors_in(v)}
    return plain(fields) if fields else value


def meta_of(value: Any) -> Any:
    """A meta tensor of ``value``'s shape and dtype (no storage), for ``meta["val"]``;
    tuples of them for tuple results."""
    if isinstance(value, torch.Tensor):
        return torch.empty(value.shape, dtype=value.dtype, device="meta")
    if isinstance(value, (tuple, list)):
        return tuple(meta_of(v) for v in value)
    return None


def stamp(node: fx.Node, stop: Any) -> None:
    """``meta["stack_trace"]``: the innermost user frame, as the symbolic tracer of
    ``nnlint.fx.tracing`` writes it."""
    frame = user_caller(stop)
    if frame is not None:
        node.meta["stack_trace"] = (
            f'File "{frame.f_code.co_filename}", line {frame.f_lineno}, '
            f"in {frame.f_code.co_name}\n"
        )


def unused_getitems(graph: fx.Graph) -> list[fx.Node]:
    """Items of tuple results nothing reads (a symbolic trace makes only the ones
    the code unpacks), innermost first so that nested ones go too."""
    unused: list[fx.Node] = []
    gone: set[fx.Node] = set()
    for node in reversed(graph.nodes):
        if node.op == "call_function" and node.target is operator.getitem:
            if all(user in gone for user in node.users):
                unused.append(node)
                gone.add(node)
    return unused


def constant_name(index: int) -> str:
    """The ``get_attr`` target of the ``index``-th tensor the forward reads that is
    neither an input, the result of a recorded op nor a parameter or buffer (a plain
    tensor attribute, a tensor made inside a leaf module), as in symbolic tracing.
    Nothing is fetched by it: the node's ``meta["val"]`` holds the value."""
    return f"_tensor_constant{index}"
