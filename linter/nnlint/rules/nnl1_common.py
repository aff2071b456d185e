"""Shared base of the loss-wiring rules (NNL101-NNL107): one data-flow pass, many rules.

Not a rule itself (no ``CODE``), so the registry skips it. Each rule names the (loss,
tensor kind) pairs it is about and how its fix is built; the pairing of loss calls with
what reaches their input comes from :mod:`nnlint.analysis.dataflow`, computed once per
file (``context.get(loss_flow)``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import libcst as cst

from nnlint.analysis.dataflow import loss_flow
from nnlint.analysis.dataflow.values import Analysis, Kind, Loss, LossUse, Tensor
from nnlint.rules.base import Invalid, Rule

Replacements = dict[cst.CSTNode, Any]

_SNIPPET_LIMIT = 60


class LossWiringRule(Rule):
    """Reports each operation whose output reaches one of ``PAIRS``' losses."""

    PAIRS: ClassVar[tuple[tuple[Loss, Kind], ...]] = ()
    # The data flow crosses top-level statements (a model class, ``model = Net()``, the
    # training function), so each subclass declares ``scope="file"``: a file it
    # triggers on is parsed whole, never pruned to the statements holding a word.

    def visit_Module(self, node: cst.Module) -> None:
        analysis = self.context.get(loss_flow)  # one data flow for all NNL1xx
        seen: set[int] = set()
        for loss, kind in self.PAIRS:
            for use, tensor in analysis.tensor_uses(loss, kind):
                reported = self.reported_node(use, tensor)
                if id(reported) in seen:
                    continue  # one finding per operation, however many losses it feeds
                seen.add(id(reported))
                self.report(
                    reported,
                    self.message(use),
                    replacements=self.fix(use, tensor, analysis),
                )

    def reported_node(self, use: LossUse, tensor: Tensor) -> cst.CSTNode:
        """The operation that made the tensor (the softmax call, the Softmax slot)."""
        return tensor.origin.node

    def message(self, use: LossUse) -> str:
        return f"{self.MESSAGE} (it reaches `{self.snippet(use.call)}`)"

    def fix(
        self, use: LossUse, tensor: Tensor, analysis: Analysis
    ) -> Replacements | None:
        return None

    def snippet(self, node: cst.CSTNode) -> str:
        text = " ".join(self.context.module.code_for_node(node).split())
        if len(text) > _SNIPPET_LIMIT:
            text = text[: _SNIPPET_LIMIT - 3] + "..."
        return text


def removal(tensor: Tensor) -> Replacements | None:
    """Replacements deleting the operation that produced ``tensor``, if it can be."""
    return dict(tensor.origin.remove) or None


def renamed(node: cst.Attribute | None, names: dict[str, str]) -> Replacements | None:
    """``F.softmax`` -> ``F.log_softmax``: new attribute name, same spelling."""
    if node is None or node.attr.value not in names:
        return None
    return {node.attr: cst.Name(names[node.attr.value])}


def integer_value(node: cst.BaseExpression | None) -> int | None:
    """The value of an integer literal (``1``, ``-1``), else None."""
    if isinstance(node, cst.Integer):
        return node.evaluated_value
    if (
        isinstance(node, cst.UnaryOperation)
        and isinstance(node.operator, cst.Minus)
        and isinstance(node.expression, cst.Integer)
    ):
        return -node.expression.evaluated_value
    return None


def functional_loss_example(activation: str) -> Invalid:
    """The INVALID example ``F.cross_entropy(<activation>(logits, dim=1), y)`` in a
    loss function, fixed by passing the logits (NNL101 and NNL102 share it)."""
    head = "import torch.nn.functional as F\n\ndef loss_fn(logits, y):\n"
    return Invalid(
        head + f"    return F.cross_entropy({activation}(logits, dim=1), y)\n",
        line=4,
        column=28,
        fixed=head + "    return F.cross_entropy(logits, y)\n",
    )
