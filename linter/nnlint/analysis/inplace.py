"""In-place operations: which call of ``forward`` overwrites which tensor.

A call modifies its operand in place when it is a ``torch.nn`` module built with a
literal ``inplace=True`` (``nn.ReLU(inplace=True)``, also as the first element of a
``nn.Sequential``), a torch function called with ``inplace=True``, or a torch function
or tensor method whose name ends in ``_`` (``torch.relu_(x)``, ``x.add_(y)``). The
first two can be fixed by making the flag ``False``; the last says so itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libcst as cst

from nnlint.analysis.method_syntax import self_attr

if TYPE_CHECKING:
    from nnlint.analysis.module_model import ClassModel, Layer, Resolve

# Position of the ``inplace`` argument of each in-place-capable torch.nn module.
_INPLACE_INDEX = {
    **dict.fromkeys("ReLU ReLU6 SELU SiLU Mish Hardswish Hardsigmoid".split(), 0),
    **dict.fromkeys(
        "LeakyReLU ELU CELU Dropout Dropout1d Dropout2d Dropout3d".split(), 1
    ),
    **dict.fromkeys("AlphaDropout FeatureAlphaDropout".split(), 1),
    **dict.fromkeys("Hardtanh RReLU Threshold".split(), 2),
}


def inplace_argument(layer: Layer) -> cst.BaseExpression | None:
    """The literal ``True`` making a ``torch.nn`` module in-place, if it is."""
    kind = (layer.kind or "").removeprefix("torch.nn.")
    if (
        layer.kind is None
        or not layer.kind.startswith("torch.nn.")
        or kind not in _INPLACE_INDEX
    ):
        return None
    value = layer.arg(_INPLACE_INDEX[kind], "inplace")
    return value if isinstance(value, cst.Name) and value.value == "True" else None


@dataclass(frozen=True)
class InPlaceCall:
    """A call that overwrites ``operand``; ``fix`` turns its flag off (empty when
    the call is in place by name); ``explicit``: its name says so (``add_``)."""

    operand: cst.BaseExpression
    fix: dict[cst.CSTNode, cst.CSTNode] = field(default_factory=dict)
    explicit: bool = False


def inplace_call(
    call: cst.Call, owner: ClassModel, me: str | None, resolve: Resolve
) -> InPlaceCall | None:
    """What ``call`` (in a method of ``owner`` whose ``self`` is ``me``) overwrites."""
    first = call.args[0].value if call.args and call.args[0].keyword is None else None
    attr = self_attr(call.func, me)
    if attr is not None:
        layer = owner.layer(attr)
        if layer is not None and layer.elements:
            layer = layer.elements[0]
        flag = inplace_argument(layer) if layer is not None else None
        if flag is None or first is None:
            return None
        return InPlaceCall(first, {flag: cst.Name("False")})
    qualified = resolve(call.func) or ""
    if qualified.startswith("torch.") and not qualified.startswith("torch.nn.init."):
        return _torch_function(call, qualified, first)
    func = call.func
    if isinstance(func, cst.Attribute) and not qualified:
        method = func.attr.value
        if method.endswith("_") and not method.startswith("_"):
            return InPlaceCall(func.value, explicit=True)
    return None


def _torch_function(
    call: cst.Call, qualified: str, first: cst.BaseExpression | None
) -> InPlaceCall | None:
    if first is None:
        return None
    for argument in call.args:
        value = argument.value
        if argument.keyword is not None and argument.keyword.value == "inplace":
            if isinstance(value, cst.Name) and value.value == "True":
                return InPlaceCall(first, {value: cst.Name("False")})
    name = qualified.rpartition(".")[2]
    if name.endswith("_") and not name.startswith("_"):
        return InPlaceCall(first, explicit=True)
    return None


@dataclass
class Overwrite:
    """An in-place operation of ``forward``: the tensor it overwrote, the other
    names still referring to it then (``stale``), and the first later read of one
    of them while it still does (``alias``: the bug NNL305 reports)."""

    node: cst.CSTNode  # the in-place call or augmented assignment
    tensor: int
    stale: set[str]
    fix: dict[cst.CSTNode, cst.CSTNode]
    alias: str | None = None


@dataclass
class Overwrites:
    """The in-place operations of one method, filled in while it is walked."""

    found: list[Overwrite] = field(default_factory=list)

    def mutate(
        self,
        node: cst.CSTNode,
        name: str,
        tensors: dict[str, int],
        explicit: bool,
        fix: dict[cst.CSTNode, cst.CSTNode] | None = None,
    ) -> None:
        """``name``'s tensor is overwritten by ``node``; ``tensors``: name -> tensor.

        An explicitly in-place call (``x.add_(y)``, ``x += y``) means to change
        ``name`` itself; only the *other* names of the tensor are then stale."""
        tensor = tensors.get(name)
        if tensor is None:
            return
        aliases = {other for other, held in tensors.items() if held == tensor}
        if explicit:
            aliases.discard(name)
        if aliases:
            self.found.append(Overwrite(node, tensor, aliases, fix or {}))

    def read(self, name: str, tensor: int | None) -> None:
        """``name`` is read while it refers to ``tensor``."""
        for overwrite in self.found:
            if overwrite.alias is None and name in overwrite.stale:
                if tensor == overwrite.tensor:
                    overwrite.alias = name

    def rebound(self, names: set[str]) -> None:
        """``names`` are assigned new values: reading them later is not stale."""
        for overwrite in self.found:
            overwrite.stale -= names
