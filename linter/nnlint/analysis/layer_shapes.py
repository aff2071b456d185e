"""What a chain of submodules does to a tensor's shape, read from constructor calls.

``chain_shape(("conv1", "bn1", "conv2"), owner)`` answers from the arguments each
``self.<attr>`` was built with in the class: the width the chain expects and the
width it produces (the constructor's argument *expressions*, ``d_in``, ``64``,
``planes * self.expansion``: comparing them is the caller's business), and whether
it keeps, shrinks or enlarges the spatial size. A chain holding anything whose
effect cannot be read (a custom block, a helper's result, a convolution with a
computed stride) has no shape: None, rather than a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from nnlint.analysis.layer_kinds import PASSTHROUGH
from nnlint.analysis.module_model import ClassModel, Layer

_CONV = {f"torch.nn.Conv{d}d" for d in (1, 2, 3)}
_CONV_T = {f"torch.nn.ConvTranspose{d}d" for d in (1, 2, 3)}
_POOL = {f"torch.nn.{kind}Pool{d}d" for kind in ("Max", "Avg") for d in (1, 2, 3)}
# The layers whose constructor arguments say a width or a stride.
SIZED = frozenset(_CONV | _CONV_T | _POOL | {"torch.nn.Linear"})


@dataclass
class ChainShape:
    """What a chain of layers does: the width it expects and produces (constructor
    argument expressions) and whether it changes the spatial size."""

    width_in: cst.BaseExpression | None = None
    width_out: cst.BaseExpression | None = None
    spatial: str = "same"  # "same", "down", "up" or "unknown"

    def resize(self, effect: str) -> None:
        if effect == "same" or self.spatial == effect:
            return
        self.spatial = effect if self.spatial == "same" else "unknown"


def chain_shape(steps: tuple[str, ...], owner: ClassModel) -> ChainShape | None:
    """The shape effect of applying ``owner``'s submodules ``steps`` in order, or
    None when one of them cannot be read."""
    shape = ChainShape()
    for step in steps:
        layer = owner.layer(step)
        if layer is None or not _apply(shape, layer):
            return None
    return shape


def _ints(expr: cst.BaseExpression | None) -> tuple[int, ...] | None:
    if isinstance(expr, cst.Integer):
        return (int(expr.value, 0),)
    if isinstance(expr, cst.Tuple):
        values = [_ints(e.value) for e in expr.elements]
        if all(v is not None and len(v) == 1 for v in values):
            return tuple(v[0] for v in values if v)
    return None


def _conv_effect(layer: Layer) -> str:
    stride = _ints(layer.arg(3, "stride")) or (1,)
    if layer.arg(3, "stride") is not None and _ints(layer.arg(3, "stride")) is None:
        return "unknown"
    if any(s > 1 for s in stride):
        return "up" if layer.kind in _CONV_T else "down"
    padding_expr = layer.arg(4, "padding")
    if isinstance(padding_expr, cst.SimpleString) and "same" in padding_expr.value:
        return "same"
    kernel = _ints(layer.arg(2, "kernel_size"))
    padding = _ints(padding_expr) if padding_expr is not None else (0,)
    dilation = _ints(layer.arg(5, "dilation")) if layer.arg(5, "dilation") else (1,)
    if kernel is None or padding is None or dilation is None or layer.kind in _CONV_T:
        return "unknown"
    preserved = all(
        (k - 1) * d == 2 * p
        for k, p, d in zip(
            kernel, padding * len(kernel), dilation * len(kernel), strict=False
        )
    )
    return "same" if preserved else "down"


def _pool_effect(layer: Layer) -> str:
    stride_expr = layer.arg(1, "stride") or layer.arg(0, "kernel_size")
    stride = _ints(stride_expr)
    if stride is None:
        return "unknown"
    return "down" if any(s > 1 for s in stride) else "same"


def _apply(shape: ChainShape, layer: Layer) -> bool:
    """Push ``layer`` through ``shape``; False if its effect cannot be known."""
    kind = layer.kind
    if layer.elements is not None:
        return all(_apply(shape, element) for element in layer.elements)
    if kind in PASSTHROUGH:
        return True
    if kind == "torch.nn.Linear":
        width_in, width_out = layer.arg(0, "in_features"), layer.arg(1, "out_features")
    elif kind in _CONV | _CONV_T:
        width_in, width_out = layer.arg(0, "in_channels"), layer.arg(1, "out_channels")
        shape.resize(_conv_effect(layer))
    elif kind in _POOL:
        shape.resize(_pool_effect(layer))
        return True
    else:
        return False
    if width_in is None or width_out is None:
        return False
    shape.width_in = shape.width_in or width_in
    shape.width_out = width_out
    return True
