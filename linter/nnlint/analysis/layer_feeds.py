"""Which layer of a class feeds which feature-mixing layer, and how a weight
expression names a layer.

A layer is named by a ``Ref``: ``(attribute, index into a Sequential or None)``. A
layer *feeds* a mixing layer (``Linear``, ``Conv*d``, a raw weight) when its output
reaches it through pass-through modules and reshapes only: the next element of the
same ``nn.Sequential``, or the next submodule applied to its output in ``forward``.
"""

from __future__ import annotations

import libcst as cst

from nnlint.analysis.forward_records import Flow
from nnlint.analysis.layer_kinds import MIXING, PARAMETER, PASSTHROUGH
from nnlint.analysis.method_syntax import self_attr
from nnlint.analysis.module_model import ClassModel

# (attribute, index into a Sequential or None): one layer of a class.
Ref = tuple[str, int | None]


def ref_text(ref: Ref) -> str:
    attr, index = ref
    return attr if index is None else f"{attr}[{index}]"


def weight_ref(
    target: cst.BaseExpression, me: str | None, raw_ok: bool = False
) -> Ref | None:
    """``("fc", None)`` for ``self.fc.weight(.data)``, ``("mlp", 0)`` for
    ``self.mlp[0].weight``, ``("w", None)`` for a raw ``self.w`` when ``raw_ok``."""
    if isinstance(target, cst.Attribute) and target.attr.value == "data":
        target = target.value
    raw = self_attr(target, me)
    if raw is not None:
        return (raw, None) if raw_ok else None
    if not (isinstance(target, cst.Attribute) and target.attr.value == "weight"):
        return None
    base = target.value
    attr = self_attr(base, me)
    if attr is not None:
        return attr, None
    if isinstance(base, cst.Subscript) and len(base.slice) == 1:
        index = base.slice[0].slice
        number = _integer(index.value) if isinstance(index, cst.Index) else None
        attr = self_attr(base.value, me)
        if attr is not None and number is not None:
            return attr, number
    return None


def normalise(owner: ClassModel, ref: Ref) -> Ref:
    """``mlp[-1]`` -> ``mlp[2]`` for a three-element Sequential."""
    attr, index = ref
    layer = owner.layer(attr)
    if index is not None and index < 0 and layer is not None and layer.elements:
        return attr, index + len(layer.elements)
    return ref


def _integer(expr: cst.BaseExpression) -> int | None:
    if isinstance(expr, cst.Integer):
        return int(expr.value, 0)
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        inner = _integer(expr.expression)
        return None if inner is None else -inner
    return None


def hidden_layers(owner: ClassModel) -> dict[Ref, Ref]:
    """Each hidden layer of ``owner`` -> a mixing layer its output feeds."""
    feeds: dict[Ref, Ref] = {}
    for attr in owner.layers:
        layer = owner.layer(attr)
        if layer is None or not layer.elements:
            continue
        last: int | None = None
        for index, element in enumerate(layer.elements):
            if element.kind in MIXING:
                if last is not None:
                    feeds[(attr, last)] = (attr, index)
                last = index
            elif element.kind not in PASSTHROUGH:
                last = None
    for function in owner.forward_methods():
        for application in owner.flow(function).applications:
            consumer = _first_mixing(owner, application.attr)
            producer = _last_mixing(owner, application.input)
            if consumer is not None and producer is not None:
                feeds.setdefault(producer, consumer)
    return feeds


def _kind(owner: ClassModel, attr: str) -> tuple[str | None, tuple | None]:
    layer = owner.layer(attr)
    if layer is None:
        return None, None
    return layer.kind, layer.elements


def _first_mixing(owner: ClassModel, attr: str) -> Ref | None:
    kind, elements = _kind(owner, attr)
    if kind in MIXING or kind == PARAMETER:
        return attr, None
    for index, element in enumerate(elements or ()):
        if element.kind in MIXING:
            return attr, index
        if element.kind not in PASSTHROUGH:
            return None
    return None


def _last_mixing(owner: ClassModel, flow: Flow | None) -> Ref | None:
    """The mixing layer whose output ``flow`` is, through pass-through ops only."""
    if flow is None:
        return None
    for step in reversed(flow.steps):
        if step == "~":
            continue
        kind, elements = _kind(owner, step)
        if kind in MIXING or kind == PARAMETER:
            return step, None
        if kind in PASSTHROUGH:
            continue
        for index in reversed(range(len(elements or ()))):
            element_kind = elements[index].kind  # type: ignore[index]
            if element_kind in MIXING:
                return step, index
            if element_kind not in PASSTHROUGH:
                return None
        return None
    return None
