from __future__ import annotations

from typing import Any

from nnlint.fx.ops import PASS_THROUGH
from nnlint.fx.rules.base import GraphInvalid, GraphRule
from nnlint.fx.traversal import walk


class SingleExpertGateSoftmax(GraphRule):
    """
    ## What it does
    Finds, on the traced graph, the values of a top-1 selection (`topk` whose `k` is
    1 once the model is built, however it was configured: `topk(logits,
    self.top_k)` with `top_k=1` counts) fed to a softmax over the same axis, through
    reshapes and casts only.

    ## Why is this bad?
    A softmax over one element is 1 for every token: the selected expert's output
    is multiplied by a constant and the router receives no gradient from the task
    loss. See NNL704, the source rule, which needs a literal `k` of 1; this rule
    reads the value the model was built with.

    ## Example
    ```python
    top, expert = torch.topk(router_logits, self.top_k, dim=-1)  # top_k = 1
    gate = top.softmax(dim=-1)
    ```

    ## Use instead
    ```python
    gate, expert = torch.topk(router_logits.softmax(dim=-1), self.top_k, dim=-1)
    ```

    ## Fix safety
    There is no automatic fix.

    ## References
    - [Fedus et al., Switch Transformers (2021), section 2.1](https://arxiv.org/abs/2101.03961)
    """

    CODE = "NNL619"
    NAME = "single-expert-gate-softmax"
    MESSAGE = (
        "softmax over the value of a top-1 selection: the gate is always 1 and the "
        "router gets no gradient from the task loss"
    )
    DUPLICATES = ("NNL704",)
    _NET = (
        "import torch\nfrom torch import nn\n\n"
        "class Router(nn.Module):\n"
        "    def __init__(self, k):\n"
        "        super().__init__()\n"
        "        self.gate = nn.Linear(8, 4)\n"
        "        self.top_k = k\n\n"
        "    def forward(self, x):\n"
        "        logits = self.gate(x)\n"
        "{body}"
        "model = Router({k})\nexample_inputs = (torch.randn(6, 8),)\n"
    )
    VALID = [
        # Switch: top-1 of the probabilities over all experts.
        _NET.format(
            k=1,
            body="        top, idx = logits.softmax(-1).topk(self.top_k, dim=-1)\n"
            "        return top * idx\n\n",
        ),
        # Mixtral: top-2 logits, softmax over the kept two.
        _NET.format(
            k=2,
            body="        top, idx = torch.topk(logits, self.top_k, dim=-1)\n"
            "        return top.softmax(dim=-1) * idx\n\n",
        ),
        # A softmax over the tokens of the top-1 values.
        _NET.format(
            k=1,
            body="        top, idx = torch.topk(logits, self.top_k, dim=-1)\n"
            "        return top.softmax(dim=0) * idx\n\n",
        ),
    ]
    INVALID = [
        GraphInvalid(
            _NET.format(
                k=1,
                body="        top, idx = torch.topk(logits, self.top_k, dim=-1)\n"
                "        return top.softmax(dim=-1) * idx\n\n",
            ),
            line=12,
        ),
        GraphInvalid(
            _NET.format(
                k=1,
                body="        top, idx = logits.topk(k=self.top_k, dim=1)\n"
                "        gate = torch.softmax(top.float(), dim=-1)\n"
                "        return gate.type_as(logits), idx\n\n",
            ),
            line=12,
        ),
        GraphInvalid(
            _NET.format(
                k=1,
                body="        top = torch.topk(logits, self.top_k)[0]\n"
                "        return nn.functional.softmax(top, dim=1)\n\n",
            ),
            line=12,
        ),
    ]

    def run(self, graph: Any) -> None:
        for node in graph.nodes:
            if graph.op(node) != "topk" or _argument(node, 1, "k") != 1:
                continue
            axis = _axis(graph, node.args[0], _argument(node, 2, "dim", -1))
            for values in node.users:
                if graph.op(values) == "getitem" and values.args[1:2] == (0,):
                    if _softmax_over(graph, values, axis):
                        self.report(node)
                        break


def _argument(node: Any, position: int, keyword: str, default: Any = None) -> Any:
    if keyword in node.kwargs:
        return node.kwargs[keyword]
    return node.args[position] if len(node.args) > position else default


def _axis(graph: Any, tensor: Any, dim: Any) -> int | None:
    """``dim`` as a non-negative axis of ``tensor`` (None when unknown)."""
    shape = graph.shape(tensor)
    if not isinstance(dim, int) or shape is None:
        return None
    return dim % len(shape) if shape else None


def _softmax_over(graph: Any, values: Any, axis: int | None) -> bool:
    """A softmax over ``axis`` reached from ``values`` through casts and reshapes
    that keep the rank."""
    if axis is None:
        return False
    rank = len(graph.shape(values) or ())

    def users(node: Any) -> list[Any]:
        keeps_rank = len(graph.shape(node) or ()) == rank
        return list(node.users) if graph.op(node) in PASS_THROUGH and keeps_rank else []

    for node in walk(values.users, users):
        if graph.op(node) == "softmax":
            dim = _softmax_dim(graph, node)
            return isinstance(dim, int) and rank > 0 and dim % rank == axis
    return False


def _softmax_dim(graph: Any, node: Any) -> Any:
    module = graph.module_of(node) if node.op == "call_module" else None
    if module is not None:
        return getattr(module[1], "dim", None)
    return _argument(node, 1, "dim")
