"""The value model of the loss-wiring pass: what it knows about an expression.

An abstract :data:`Value` is a tensor of a known :class:`Kind` (with the
:class:`Origin` that gave it that kind), a tuple/dict of values, a module or loss
object, an instance of a class in the file, a parameter of the function being
walked, or ``None`` (unknown). The pass's result, :class:`Analysis`, is the list of
:class:`LossUse` records: every loss call with the value reaching its input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import reduce
from typing import Any

import libcst as cst


class Kind(Enum):
    PROBS = "softmax output"
    LOG_PROBS = "log-softmax output"
    SIGMOID = "sigmoid output"
    LOGITS = "raw logits"
    ACTIVATED = "activation output"


class Loss(Enum):
    CE = "cross-entropy"
    NLL = "NLL"
    BCE_LOGITS = "BCE-with-logits"
    BCE = "BCE"


# -- abstract values -------------------------------------------------------------------
@dataclass(frozen=True)
class Origin:
    """The operation that gave a tensor its kind, and what a fix may do with it.

    ``node`` is what the user should look at (the softmax call, or the ``nn.Softmax()``
    element of a Sequential); ``remove`` are replacements deleting the operation;
    ``named_by`` is the attribute spelling it (``F.softmax``, ``nn.Softmax``) for rename
    fixes; ``dim`` its explicit ``dim`` argument; ``inner`` what it was applied to.
    """

    node: cst.CSTNode
    remove: tuple[tuple[cst.CSTNode, Any], ...] = ()
    named_by: cst.Attribute | None = None
    dim: cst.BaseExpression | None = None
    inner: cst.BaseExpression | None = None


@dataclass(frozen=True)
class Tensor:
    kind: Kind
    origin: Origin


@dataclass(frozen=True)
class Items:
    """A tuple/list (``keys`` None) or a dict literal with string keys."""

    values: tuple[Value, ...]
    keys: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ModuleObject:
    """An ``nn.Module`` whose output kind is known; ``container`` is the Sequential that
    holds it as element ``element`` (then that element is what gets reported)."""

    kind: Kind
    ctor: cst.Call
    container: cst.Call | None = None
    element: int = -1


@dataclass(frozen=True)
class LossObject:
    loss: Loss
    ctor: cst.Call


@dataclass(frozen=True)
class Instance:
    """An object of a class defined in this file (usually a model)."""

    cls: str


@dataclass(frozen=True)
class Param:
    """A parameter of the function being walked, so that a helper such as
    ``def loss_fn(out, y): return F.cross_entropy(out, y)`` is checked at each call
    site. ``index`` is the position among positional parameters (-1: keyword-only)."""

    function: cst.FunctionDef
    index: int
    name: str


@dataclass(frozen=True)
class Called:
    """What calling a parameter returns (``model(x)`` in ``def train(model, ...)``):
    the forward output of whatever each call site passes for it."""

    param: Param


@dataclass(frozen=True)
class Returned:
    """A nested function: calling it gives ``value``."""

    value: Value


Value = (
    Tensor
    | Items
    | ModuleObject
    | LossObject
    | Instance
    | Param
    | Called
    | Returned
    | None
)


def same(first: Value, second: Value) -> bool:
    """Do two paths agree? Two constructions of the same loss (``nn.CrossEntropyLoss()``
    and ``nn.CrossEntropyLoss(weight=w)`` on the two arms of an ``if``) are one loss:
    what reaches its input is judged the same way."""
    if isinstance(first, LossObject) and isinstance(second, LossObject):
        return first.loss is second.loss
    return first == second


def merge(first: Value, second: Value) -> Value:
    return first if same(first, second) else None


def merge_all(values: Sequence[Value]) -> Value:
    return reduce(merge, values) if values else None


# -- the result ------------------------------------------------------------------------
@dataclass(frozen=True)
class LossUse:
    """One call of a loss and the value reaching its input.

    ``named_by`` spells the loss (``F.nll_loss``, ``nn.BCELoss(...)``'s ``nn.BCELoss``)
    for rename fixes; ``single_use`` means the input tensor feeds nothing but this loss
    (passed inline, or a local read exactly once), so changing it changes nothing else.
    """

    loss: Loss
    call: cst.Call
    value: Value
    named_by: cst.Attribute | None
    single_use: bool


@dataclass
class Analysis:
    uses: list[LossUse] = field(default_factory=list)

    def uses_of(self, named_by: cst.CSTNode | None) -> int:
        """How many loss calls share one loss spelling (e.g. one criterion object)."""
        return sum(1 for use in self.uses if use.named_by is named_by)

    def tensor_uses(self, loss: Loss, kind: Kind) -> list[tuple[LossUse, Tensor]]:
        """Uses of ``loss`` whose input is a tensor of ``kind``, in source order."""
        return [
            (use, use.value)
            for use in self.uses
            if use.loss is loss
            and isinstance(use.value, Tensor)
            and use.value.kind is kind
        ]
