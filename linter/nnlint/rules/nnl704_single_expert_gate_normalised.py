from __future__ import annotations

import ast
from typing import ClassVar

import libcst as cst

from nnlint.analysis.dataflow.origins import argument
from nnlint.analysis.tensor_flow import (
    NOTHING,
    SOFTMAX_FUNCTIONS,
    Facts,
    FlowWalker,
)
from nnlint.rules.base import Invalid, Rule
from nnlint.rules.function_scan import FunctionScanRule
from nnlint.rules.needs import Needs
from nnlint.rules.screens import call_name, calls, keyword

_TOPK = frozenset({"torch.topk", ".topk"})


def _one(node: ast.expr | None) -> bool:
    """The integer literal 1 (not ``True``, which equals 1)."""
    return isinstance(node, ast.Constant) and node.value == 1 and node.value is not True


def _keeps_one(statement: ast.stmt) -> bool:
    """The finding is a top-k call with a literal ``k`` of 1 (first argument of the
    method, second of the function, or the keyword)."""
    return any(
        call_name(call) == "topk"
        and (_one(keyword(call, "k")) or any(map(_one, call.args[:2])))
        for call in calls(statement)
    )


class SingleExpertGateNormalised(FunctionScanRule):
    """## What it does
    Finds top-1 routing whose single kept gate is normalised over the expert axis:
    `softmax(topk(logits, 1).values)` or `top / top.sum(-1, keepdim=True)` after
    `topk(probs, 1)`. Only a literal `k` of 1 is judged, and only when the softmax or
    the sum runs over the axis the top-k was taken on.

    ## Why is this bad?
    A softmax over one element, or one value divided by itself, is exactly 1 for
    every token. The expert output is then multiplied by a constant, so the task loss
    sends no gradient to the router at all: routing is learned only from the
    auxiliary losses, and the router barely trains. This is why Switch Transformer
    multiplies the top-1 expert's output by its *unnormalised* probability from a
    softmax over all experts. With `k >= 2` normalising the kept gates is fine
    (Mixtral), and so is top-1 with the full-softmax probability. In graph mode,
    NNL619 reads `k` as the model was built (`top_k=1` from a configuration).

    ## Example
    ```python
    top_logits, expert = torch.topk(router_logits, 1, dim=-1)
    gate = torch.softmax(top_logits, dim=-1)
    ```

    ## Use instead
    ```python
    probs = torch.softmax(router_logits, dim=-1)
    gate, expert = torch.topk(probs, 1, dim=-1)
    ```

    ## Fix safety
    There is no automatic fix.

    ## References
    - [Fedus et al., Switch Transformers (2021), section 2.1](https://arxiv.org/abs/2101.03961):
      the router gate is the top-1 probability of a softmax over all experts
    """

    CODE = "NNL704"
    NAME = "single-expert-gate-normalised"
    MESSAGE = (
        "the single top-1 gate is normalised over the expert axis: it is always 1, so "
        "the router receives no gradient from the task loss"
    )
    SEVERITY = "error"
    NAMES = frozenset({"topk"})
    NEEDS = Needs(("topk",), screen=_keeps_one)

    def judge(self, module: cst.Module, functions: list[cst.FunctionDef]) -> None:
        for function in functions:
            walker = _TopOneWalker(self)
            walker.run(function)
            for reported in dict.fromkeys(walker.found):
                self.report(reported)

    VALID: ClassVar[list[str]] = [
        # Switch: the top-1 probability of a softmax over all experts.
        """\
import torch

def route(logits):
    probs = torch.softmax(logits, dim=-1)
    gate, expert = torch.topk(probs, 1, dim=-1)
    return gate, expert
""",
        # k = 2 (Mixtral): the kept gates are normalised on purpose.
        """\
import torch

def route(logits):
    top, experts = torch.topk(logits, 2, dim=-1)
    gates = top.softmax(dim=-1)
    probs = logits.softmax(-1)
    kept = probs.topk(2).values
    return gates, experts, kept / kept.sum(-1, keepdim=True)
""",
        # A softmax over tokens of the top-1 values (another axis) is not constant.
        """\
import torch

def route(logits, k):
    top, expert = torch.topk(logits, 1, dim=-1)
    over_tokens = torch.softmax(top, dim=0)
    top_k = logits.topk(k).values
    return over_tokens, expert, top_k.softmax(-1)
""",
    ]
    INVALID: ClassVar[list[Invalid]] = [
        Invalid(
            """\
import torch

def route(router_logits):
    top_logits, expert = torch.topk(router_logits, 1, dim=-1)
    gate = torch.softmax(top_logits, dim=-1)
    return gate, expert
""",
            line=4,
            column=26,
        ),
        Invalid(
            """\
import torch.nn.functional as F

def route(logits):
    probs = F.softmax(logits, dim=-1)
    top, expert = probs.topk(1)
    return top / top.sum(dim=-1, keepdim=True), expert
""",
            line=5,
            column=19,
        ),
        Invalid(
            """\
import torch
from torch import nn

class Router(nn.Module):
    def forward(self, x):
        logits = self.gate(x)
        gates = torch.topk(logits, k=1, dim=1).values.softmax(dim=1)
        return gates
""",
            line=7,
            column=17,
        ),
    ]


class _TopOneWalker(FlowWalker):
    """Facts: ``matrix`` (a tensor reshaped to 2-D), ``topk`` (a top-1 result),
    ``one`` (its values), ``sum`` (their sum over the top-k axis); the node is the
    top-k call, and ``axes`` holds its ``dim``."""

    def __init__(self, rule: Rule) -> None:
        super().__init__(rule.context.imports)
        self.found: list[cst.CSTNode] = []
        self.axes: dict[cst.CSTNode, str] = {}

    def on_call(self, node: cst.Call, name: str | None, args: list[Facts]) -> Facts:
        first = args[0] if args else NOTHING
        method = name is not None and name.startswith(".")
        if name in _TOPK and _literal(argument(node, 0 if method else 1, "k")) == "1":
            axis = _axis(argument(node, 1 if method else 2, "dim"))
            if ("matrix", None) in first:  # a 2-D tensor: axis 1 is the last one
                axis = {"1": "-1", "-2": "0"}.get(axis, axis)
            self.axes[node] = axis
            return frozenset({("topk", node)})
        if name in (".view", ".reshape") and len(node.args) == 2:
            # ``logits.view(-1, n_experts)``: tokens by experts.
            if not any(arg.star or arg.keyword for arg in node.args):
                return frozenset({("matrix", None)})
        if name in SOFTMAX_FUNCTIONS or name == ".softmax":
            dim = argument(node, 0 if method else 1, "dim")
            self.normalised(first, "one", _axis(dim))
            return NOTHING
        if name == ".sum":
            axis = _axis(argument(node, 0, "dim"), default="all")
            return frozenset(("sum", t[1]) for t in first if self.on_axis(t, axis))
        return super().on_call(node, name, args)

    def on_binary(self, node: cst.BinaryOperation, left: Facts, right: Facts) -> Facts:
        if isinstance(node.operator, cst.Divide):
            summed = {t[1] for t in right if t[0] == "sum"}
            self.found.extend(
                t[1]
                for t in left
                if t[0] == "one" and t[1] is not None and t[1] in summed
            )
            return NOTHING
        return super().on_binary(node, left, right)

    def element(self, facts: Facts, index: int) -> Facts:
        if index == 0:
            return frozenset(("one", tag[1]) for tag in facts if tag[0] == "topk")
        return NOTHING

    def normalised(self, facts: Facts, kind: str, axis: str) -> None:
        for tag in facts:
            if tag[0] == kind and self.on_axis(tag, axis) and tag[1] is not None:
                self.found.append(tag[1])

    def on_axis(self, tag: tuple[str, cst.CSTNode | None], axis: str) -> bool:
        # An axis given by a variable is never taken to be the same one.
        return tag[1] is not None and axis != "?" and self.axes.get(tag[1]) == axis


def _literal(node: cst.BaseExpression | None) -> str | None:
    if isinstance(node, cst.Integer):
        return node.value
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        inner = _literal(node.expression)
        return None if inner is None else "-" + inner
    return None


def _axis(node: cst.BaseExpression | None, default: str = "-1") -> str:
    """The axis as text (``-1`` when absent, as top-k and a 2-D softmax use);
    ``?`` for anything but an integer literal."""
    if node is None:
        return default
    return _literal(node) or "?"
