"""NNL702: gate weights taken from routing scores that include the balancing bias."""

from __future__ import annotations

import ast
import re
from typing import ClassVar

import libcst as cst

from nnlint.analysis.frozen_tensors import frozen_attributes
from nnlint.analysis.gate_weights import PICKS, GateWalker
from nnlint.rules.base import Invalid
from nnlint.rules.function_scan import FunctionScanRule
from nnlint.rules.needs import Needs
from nnlint.rules.screens import called_names, nodes, summary


def _adds_a_bias_and_picks(statement: ast.stmt) -> bool:
    """The gates are picked (top-k, gather) from scores plus an attribute whose name
    holds ``bias``, in one function here."""
    found = summary(statement)
    if found.called.isdisjoint(PICKS) or ast.Add not in found.operators:
        return False
    if not any("bias" in name.lower() for name in found.names):
        return False
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and not called_names(node).isdisjoint(PICKS)
        and _adds_a_bias(node)
        for node in nodes(statement)
    )


def _adds_a_bias(function: ast.AST) -> bool:
    return any(
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Add)
        and any(
            isinstance(part, ast.Attribute) and "bias" in part.attr.lower()
            for side in (node.left, node.right)
            for part in ast.walk(side)
        )
        for node in nodes(function)
    )


class BiasedScoresAsGateWeights(FunctionScanRule):
    """## What it does
    Finds mixture-of-experts routers with auxiliary-loss-free balancing (a
    per-expert bias, kept outside the gradient, added to the routing scores before
    top-k, as in DeepSeek-V3) that also take the *gate weights* from the biased
    scores: the values of `topk(scores + bias)`, or `(scores + bias).gather(...)`,
    used to weight the experts' outputs (multiplied, divided or returned).

    The bias is recognised by how it is stored: a buffer (`register_buffer`,
    `nn.Buffer`), a parameter with `requires_grad=False` or a plain tensor
    attribute, whose name contains `bias`. A learned bias (a router `nn.Linear`'s
    own bias) is part of the logits and is not judged.

    ## Why is this bad?
    The balancing bias exists only to decide *which* experts a token goes to: it is
    nudged up for under-loaded experts and down for over-loaded ones, outside the
    gradient. When the same biased scores also weight the outputs, the balancing
    step changes the model's function directly: an expert that is under-loaded gets
    a larger weight in every token's output whatever the router learned, the bias
    fights the gradient, and the output scale drifts as the bias grows. The
    auxiliary-loss-free method takes the indices from the biased scores and the
    weights from the unbiased ones.

    Group-limited routing that sums the top values of the biased scores only to
    choose expert groups is selection, not weighting, and is not reported.

    ## Example
    ```python
    biased = scores + self.expert_bias
    weights, experts = torch.topk(biased, k, dim=-1)
    ```

    ## Use instead
    ```python
    experts = torch.topk(scores + self.expert_bias, k, dim=-1).indices
    weights = scores.gather(-1, experts)
    ```

    ## Fix safety
    There is no automatic fix.

    ## References
    - [Wang et al., Auxiliary-Loss-Free Load Balancing Strategy for
      Mixture-of-Experts (2024)](https://arxiv.org/abs/2408.15664): the bias
      only affects the top-k selection
    - [DeepSeek-V3 technical report (2024), section 2.1.2](https://arxiv.org/abs/2412.19437)
    """

    CODE = "NNL702"
    NAME = "biased-scores-as-gate-weights"
    MESSAGE = (
        "gate weights are taken from routing scores that include the load-balancing "
        "bias: the bias must only choose experts; gather the weights from the "
        "unbiased scores"
    )
    SEVERITY = "error"
    NAMES = frozenset({"topk", "gather", "take_along_dim"})
    # The bias buffer may be registered in another class (the router) than the one
    # using it (the MoE block): the evidence.
    NEEDS = Needs(
        ("topk", "gather"),
        screen=_adds_a_bias_and_picks,
        evidence=lambda hit: re.compile(
            r"register_buffer|Buffer\s*\(|requires_grad|bias\s*="
        ),
    )

    def judge(self, module: cst.Module, functions: list[cst.FunctionDef]) -> None:
        if not functions:
            return
        # A bias kept outside the gradient is one nudged by hand: the balancing bias.
        frozen = self.context.get(frozen_attributes)
        biases = {name for name in frozen if "bias" in name.lower()}
        if not biases:
            return
        for function in functions:
            walker = GateWalker(self.context.imports, biases)
            walker.run(function)
            for reported in dict.fromkeys(walker.found):
                self.report(reported)

    VALID: ClassVar[list[str]] = [
        # DeepSeek-V3: groups and experts chosen on biased scores, weights gathered
        # from the unbiased ones.
        """\
import torch
from torch import nn

class Router(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.register_buffer("e_score_correction_bias", torch.zeros(n))

    def forward(self, logits, k):
        scores = logits.sigmoid()
        biased = scores + self.e_score_correction_bias
        groups = biased.view(-1, 8, 4).topk(2, dim=-1)[0].sum(dim=-1)
        chosen = torch.topk(groups, k=2, dim=-1)[1]
        biased = biased.masked_fill(chosen.sum() < 0, float("-inf"))
        _, idx = torch.topk(biased, k, dim=-1)
        weights = scores.gather(1, idx)
        return idx, weights / weights.sum(-1, keepdim=True)
""",
        # A learned bias (part of the router's logits) is not a balancing bias.
        """\
import torch
from torch import nn

class Router(nn.Module):
    def __init__(self, d, n):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(n))
        self.weight = nn.Parameter(torch.randn(n, d))

    def forward(self, x, k):
        logits = x @ self.weight.T + self.bias
        weights, idx = logits.softmax(-1).topk(k)
        return weights, idx
""",
        # Only the indices of the biased top-k are kept.
        """\
import torch
from torch import nn

class Gate(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.expert_bias = nn.Parameter(torch.zeros(n), requires_grad=False)

    def forward(self, probs, k):
        idx = (probs + self.expert_bias).topk(k, dim=-1).indices
        return idx, probs.gather(-1, idx)
""",
    ]
    INVALID: ClassVar[list[Invalid]] = [
        Invalid(
            """\
import torch
from torch import nn

class Router(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.register_buffer("expert_bias", torch.zeros(n))

    def forward(self, scores, k):
        biased = scores + self.expert_bias
        weights, experts = torch.topk(biased, k, dim=-1)
        return experts, weights
""",
            line=11,
            column=28,
        ),
        Invalid(
            """\
import torch
from torch import nn

class Router(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.routing_bias = nn.Buffer(torch.zeros(n))

    def forward(self, logits, k):
        scores = torch.softmax(logits + self.routing_bias[None], dim=-1)
        idx = scores.topk(k).indices
        weights = scores.gather(-1, idx)
        return idx, weights / weights.sum(-1, keepdim=True)
""",
            line=12,
            column=19,
        ),
        Invalid(
            """\
import torch
from torch import nn

class MoE(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.expert_bias = torch.zeros(n)

    def forward(self, x, scores, k):
        top = (scores + self.expert_bias.to(x.device)).topk(k)
        return top.values.unsqueeze(-1) * x
""",
            line=10,
            column=15,
        ),
    ]
