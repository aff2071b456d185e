"""``.data`` reads where they can cut a gradient (NNL502), recorded by the forward pass.

The pass (:mod:`.forward_flow`) tells :class:`DataReads` about every attribute it
evaluates and when it enters a part of a method where ``.data`` cannot cut a gradient:
a lambda (it runs later, if ever), an ``assert``, a ``with`` block under ``no_grad``
(or ``inference_mode``, ``set_grad_enabled``), and a statement that writes through
``.data`` or caches a value on ``self`` (``self.m = x.data``, ``x.data[i] = 0``,
``y += x.data``). Whether the receiver is a tensor is the rule's question.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from nnlint.analysis.cst_syntax import Resolve, descendants, is_self_attr

NO_GRAD = frozenset({"torch.no_grad", "torch.inference_mode", "torch.set_grad_enabled"})


@dataclass(frozen=True)
class DataRead:
    node: cst.Attribute  # ``<receiver>.data``
    then: str | None  # the attribute read from it next (``x.data.shape``: "shape")
    in_test: bool  # inside an ``if``/``while`` condition


class DataReads:
    """The ``.data`` reads of one method, in the order the pass evaluates them."""

    def __init__(self, resolve: Resolve) -> None:
        self.resolve = resolve
        self.found: list[DataRead] = []
        self.quiet = 0  # > 0: inside a part where ``.data`` cannot cut a gradient
        self.test = 0  # > 0: inside an ``if``/``while`` condition
        self._then: dict[int, str] = {}

    def attribute(self, node: cst.Attribute) -> None:
        """``node`` is evaluated (before its receiver)."""
        inner = node.value
        if type(inner) is cst.Attribute and inner.attr.value == "data":
            self._then[id(inner)] = node.attr.value
        if node.attr.value == "data" and not self.quiet:
            then = self._then.get(id(node))
            self.found.append(DataRead(node, then, self.test > 0))

    def disables_grad(self, statement: cst.With) -> bool:
        for item in statement.items:
            call = item.item
            func = call.func if isinstance(call, cst.Call) else call
            if self.resolve(func) in NO_GRAD:
                return True
        return False


def writes(small: cst.CSTNode) -> bool:
    """A statement that stores through ``.data`` or caches a value on ``self``."""
    if isinstance(small, cst.AugAssign):
        return True
    if not isinstance(small, cst.Assign):
        return False
    for target in small.targets:
        if is_self_attr(target.target) is not None:
            return True
        for part in (target.target, *descendants(target.target)):
            if isinstance(part, cst.Attribute) and part.attr.value == "data":
                return True
    return False
