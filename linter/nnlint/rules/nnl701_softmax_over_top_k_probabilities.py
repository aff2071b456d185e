from __future__ import annotations

import ast
from typing import ClassVar

import libcst as cst

from nnlint.analysis.tensor_flow import (
    NOTHING,
    SOFTMAX_FUNCTIONS,
    Facts,
    FlowWalker,
)
from nnlint.rules.base import Invalid, Rule
from nnlint.rules.function_scan import FunctionScanRule
from nnlint.rules.needs import Needs
from nnlint.rules.screens import called_names, nodes

_PROBABILITIES = SOFTMAX_FUNCTIONS | {
    ".softmax",
    "torch.sigmoid",
    ".sigmoid",
    "torch.nn.functional.sigmoid",
}
_TOPK = frozenset({"torch.topk", ".topk"})
_GATHER = frozenset({"torch.gather", ".gather", "torch.take_along_dim"})


# Last names of the calls that keep the top values, and of the softmax reported.
_PICKS = frozenset(name.rpartition(".")[2] for name in _TOPK | _GATHER)
_SOFTMAX = frozenset({"softmax"})


def _picks_then_softmaxes(statement: ast.stmt) -> bool:
    """The finding is a softmax, in a function that also takes top-k values (or
    gathers them): both calls in one function here."""
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and not (names := called_names(node)).isdisjoint(_PICKS)
        and not names.isdisjoint(_SOFTMAX)
        for node in nodes(statement)
    )


class SoftmaxOverTopKProbabilities(FunctionScanRule):
    """## What it does
    Finds a softmax taken over the top-k values of scores that are already
    probabilities: `probs = softmax(logits)` (or `sigmoid(logits)`), then
    `w = softmax(topk(probs, k).values)` (or over `probs.gather(...)`). This is the
    usual way a mixture-of-experts router's gates get "renormalised" by mistake.

    ## Why is this bad?
    Probabilities lie in `[0, 1]`, so their softmax is nearly uniform: router
    probabilities `0.6` and `0.1` become gates `0.62` and `0.38` instead of `0.86`
    and `0.14`. The gates no longer follow the router's preference, and the router
    receives a gradient squashed by the second softmax.

    How top-k gates are normalised is a design choice, and each correct form is
    left alone: a softmax over the top-k *logits* (Mixtral's form), softmax over all
    experts then top-k divided by the sum of the kept probabilities (equivalent),
    and top-k probabilities left unnormalised (Switch Transformer's top-1, Qwen-MoE
    and DeepSeek-V2 with `norm_topk_prob=False`, whose gates sum to less than one on
    purpose). Only the double softmax is wrong whatever the intent. A softmax over
    the log of the kept probabilities (`softmax(p.log())`) is a renormalisation and
    is not reported, nor is one after a temperature is applied.

    ## Example
    ```python
    probs = F.softmax(router_logits, dim=-1)
    top, experts = torch.topk(probs, k, dim=-1)
    gates = F.softmax(top, dim=-1)
    ```

    ## Use instead
    ```python
    probs = F.softmax(router_logits, dim=-1)
    top, experts = torch.topk(probs, k, dim=-1)
    gates = top / top.sum(dim=-1, keepdim=True)
    ```

    ## Fix safety
    There is no automatic fix: dividing by the sum and taking the softmax of the
    top-k logits are both correct, and the choice changes numerics.

    ## References
    - [Shazeer et al., Outrageously Large Neural Networks (2017)](https://arxiv.org/abs/1701.06538):
      softmax over the kept logits
    - [Fedus et al., Switch Transformers (2021), section 2.1](https://arxiv.org/abs/2101.03961):
      the top-1 probability used unnormalised
    - [Jiang et al., Mixtral of Experts (2024)](https://arxiv.org/abs/2401.04088)
    """

    CODE = "NNL701"
    NAME = "softmax-over-top-k-probabilities"
    MESSAGE = (
        "softmax over top-k values that are already probabilities: the gates come out "
        "nearly uniform; divide by their sum instead"
    )
    SEVERITY = "error"
    NAMES = frozenset({"topk", "gather", "take_along_dim"})
    NEEDS = Needs(("topk", "gather"), screen=_picks_then_softmaxes)

    def judge(self, module: cst.Module, functions: list[cst.FunctionDef]) -> None:
        for function in functions:
            walker = _TopKWalker(self)
            walker.run(function)
            for reported in dict.fromkeys(walker.found):
                self.report(reported)

    VALID: ClassVar[list[str]] = [
        # Mixtral: softmax over the kept logits; and divide-by-sum renormalisation.
        """\
import torch
import torch.nn.functional as F

def route(logits, k):
    top_logits, idx = torch.topk(logits, k, dim=-1)
    gates = F.softmax(top_logits, dim=-1)
    probs = F.softmax(logits, dim=-1)
    top, idx2 = probs.topk(k, dim=-1)
    return gates, idx, top / top.sum(dim=-1, keepdim=True), idx2
""",
        # Switch-style top-1 probability kept as it is; log-space renormalisation.
        """\
import torch

def route(logits, k):
    probs = logits.softmax(dim=-1)
    gate, expert = probs.max(dim=-1)
    top = probs.topk(k).values
    return gate, expert, torch.softmax(top.log(), dim=-1)
""",
        # A temperature applied before the second softmax, and softmax over a
        # top-k of raw scores gathered from logits.
        """\
import torch

def route(logits, k, temperature):
    top = torch.topk(torch.sigmoid(logits), k).values
    idx = logits.topk(k).indices
    return torch.softmax(top / temperature, -1), logits.gather(-1, idx).softmax(-1)
""",
    ]
    INVALID: ClassVar[list[Invalid]] = [
        Invalid(
            """\
import torch
import torch.nn.functional as F

def route(router_logits, k):
    probs = F.softmax(router_logits, dim=-1)
    top, experts = torch.topk(probs, k, dim=-1)
    gates = F.softmax(top, dim=-1)
    return gates, experts
""",
            line=7,
            column=13,
        ),
        Invalid(
            """\
from torch import nn

class Gate(nn.Module):
    def forward(self, x):
        scores = self.proj(x).sigmoid()
        chosen = scores.topk(self.k, dim=-1)
        return chosen.values.softmax(dim=-1), chosen.indices
""",
            line=7,
            column=16,
        ),
        Invalid(
            """\
import torch

def gates(logits, idx):
    probs = torch.softmax(logits.float(), dim=-1)
    picked = probs.gather(-1, idx)
    return torch.softmax(picked, dim=-1).type_as(logits)
""",
            line=6,
            column=12,
        ),
    ]


class _TopKWalker(FlowWalker):
    """Facts: ``probs`` (softmax/sigmoid output), ``topk`` (a top-k of them),
    ``top`` (their kept values)."""

    def __init__(self, rule: Rule) -> None:
        super().__init__(rule.context.imports)
        self.found: list[cst.CSTNode] = []

    def on_call(self, node: cst.Call, name: str | None, args: list[Facts]) -> Facts:
        first = args[0] if args else NOTHING
        if name in SOFTMAX_FUNCTIONS or name == ".softmax":
            if any(tag[0] == "top" for tag in first):
                self.found.append(node)
        if name in _PROBABILITIES:
            return frozenset({("probs", node)})
        if name in _TOPK and any(tag[0] == "probs" for tag in first):
            return frozenset({("topk", node)})
        if name in _GATHER and any(tag[0] == "probs" for tag in first):
            return frozenset({("top", node)})
        return super().on_call(node, name, args)

    def element(self, facts: Facts, index: int) -> Facts:
        if index == 0:
            return frozenset(("top", tag[1]) for tag in facts if tag[0] == "topk")
        return NOTHING
