"""Where the gate weights of a mixture-of-experts router come from, in one function.

:class:`GateWalker` evaluates a function body (see :mod:`nnlint.analysis.tensor_flow`)
with three facts: ``biased`` (scores with one of the given bias attributes added),
``topk`` (a top-k of biased scores, or of their group sums) and ``gates`` (the values
of such a top-k, or a gather from biased scores). Gates multiplied, divided or
returned weight the experts' outputs; those uses are recorded in ``found``. Which
attributes count as a bias is the caller's decision.
"""

from __future__ import annotations

import libcst as cst

from nnlint.analysis.names import ImportMap
from nnlint.analysis.tensor_flow import NOTHING, Facts, FlowWalker

_TOPK = frozenset({"torch.topk", ".topk"})
_GATHER = frozenset({"torch.gather", ".gather", "torch.take_along_dim"})
# The last names of the calls that pick gates: a statement naming none holds none.
PICKS = frozenset(name.rpartition(".")[2] for name in _TOPK | _GATHER)
# Normalising the biased scores keeps the bias in them.
_KEEP = frozenset(
    {
        "torch.sigmoid", "torch.softmax", "torch.nn.functional.softmax", ".sigmoid",
        ".softmax", "torch.nn.functional.sigmoid",
    }
)  # fmt: skip


class GateWalker(FlowWalker):
    """Facts: ``biased`` (scores with the balancing bias), ``topk`` (a top-k of
    them), ``gates`` (its values, or a gather of biased scores)."""

    def __init__(self, imports: ImportMap, biases: set[str]) -> None:
        super().__init__(imports)
        self.biases = biases
        self.found: list[cst.CSTNode] = []

    def on_call(self, node: cst.Call, name: str | None, args: list[Facts]) -> Facts:
        first = args[0] if args else NOTHING
        if name in _TOPK:
            # Top values of biased scores (or of their group sums) select again.
            if _has(first, "biased") or _has(first, "gates"):
                return frozenset({("topk", node)})
            return NOTHING
        if name in _GATHER and _has(first, "biased"):
            return frozenset({("gates", node)})
        if name in _KEEP:
            return _only(first, "biased")
        return super().on_call(node, name, args)

    def on_binary(self, node: cst.BinaryOperation, left: Facts, right: Facts) -> Facts:
        if isinstance(node.operator, cst.Multiply | cst.Divide):
            self.use(left | right)
            return NOTHING
        if isinstance(node.operator, cst.Add) and (
            self.is_bias(node.left) or self.is_bias(node.right)
        ):
            return left | right | {("biased", node)}
        return super().on_binary(node, left, right)

    def element(self, facts: Facts, index: int) -> Facts:
        if index == 0:
            return frozenset(("gates", tag[1]) for tag in facts if tag[0] == "topk")
        return NOTHING

    def on_statement(self, node: cst.CSTNode, env: dict[str, Facts]) -> None:
        if isinstance(node, cst.Return) and node.value is not None:
            self.use(self.evaluate(node.value, env))

    def use(self, facts: Facts) -> None:
        """Gates multiplied, normalised or returned: they weight the experts."""
        self.found.extend(t[1] for t in facts if t[0] == "gates" and t[1] is not None)

    def is_bias(self, node: cst.BaseExpression) -> bool:
        """``self.expert_bias`` (or ``self.gate.expert_bias``), possibly moved,
        reshaped or indexed."""
        while True:
            if isinstance(node, cst.Subscript):
                node = node.value
            elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
                node = node.func.value
            else:
                break
        return isinstance(node, cst.Attribute) and node.attr.value in self.biases


def _has(facts: Facts, kind: str) -> bool:
    return any(tag[0] == kind for tag in facts)


def _only(facts: Facts, kind: str) -> Facts:
    return frozenset(tag for tag in facts if tag[0] == kind)
