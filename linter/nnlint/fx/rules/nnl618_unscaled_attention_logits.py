from __future__ import annotations

from typing import Any

from nnlint.fx.ops import PASS_THROUGH
from nnlint.fx.rules.base import GraphInvalid, GraphRule
from nnlint.fx.traversal import walk

_PRODUCTS = frozenset({"matmul", "bmm", "einsum"})
_SCALES = frozenset({"mul", "div", "truediv", "normalize", "baddbmm"})
# Between the product and the softmax: masks, biases, casts.
_TO_SOFTMAX = PASS_THROUGH | {"add", "sub", "masked_fill", "where", "_to_copy", "type"}
# Between the softmax and the values: dropout, casts, masks.
_TO_VALUES = PASS_THROUGH | {"native_dropout", "masked_fill", "_to_copy", "type"}


class UnscaledAttentionLogits(GraphRule):
    """
    ## What it does
    Finds dot-product attention on the traced graph whose scores reach the softmax
    unscaled: a `matmul`/`bmm`/`einsum` of two tensors, then (through masks, additive
    biases and casts only) a softmax, whose output (through dropout) is multiplied
    with a third tensor, and no multiplication, division or L2 normalisation on the
    scores or on the two operands before the product. Helpers and loops are traced
    through, so attention split across functions is seen whole. A contraction width
    of 1 (known from the propagated shapes) needs no scale and is not reported.

    ## Why is this bad?
    With unit-variance queries and keys of width `d` the logits have variance `d`:
    the softmax saturates onto one key and heads collapse early in training. See
    NNL703, the source rule for the same pattern, for the scales that count.

    ## Example
    ```python
    w = (q @ k.transpose(-2, -1)).softmax(dim=-1)
    out = w @ v
    ```

    ## Use instead
    ```python
    out = F.scaled_dot_product_attention(q, k, v)
    ```

    ## Fix safety
    There is no automatic fix.

    ## References
    - [Vaswani et al., Attention Is All You Need (2017), section 3.2.1](https://arxiv.org/abs/1706.03762)
    """

    CODE = "NNL618"
    NAME = "unscaled-attention-logits"
    MESSAGE = "attention scores reach the softmax without the 1/sqrt(d) scale"
    SEVERITY = "warning"
    DUPLICATES = ("NNL703",)
    _NET = (
        "import torch\nfrom torch import nn\n\n"
        "class Attention(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.qkv = nn.Linear(8, 24)\n\n"
        "    def forward(self, x):\n"
        "        q, k, v = self.qkv(x).chunk(3, dim=-1)\n"
        "{body}"
        "model = Attention()\nexample_inputs = (torch.randn(2, 5, 8),)\n"
    )
    VALID = [
        _NET.format(
            body="        s = q @ k.transpose(-2, -1) * 8 ** -0.5\n"
            "        return s.softmax(-1) @ v\n\n"
        ),
        _NET.format(
            body="        q = q * 8 ** -0.5\n"
            "        return torch.softmax(q @ k.transpose(-2, -1), -1) @ v\n\n"
        ),
        # A similarity softmax that is not attention (nothing multiplies it).
        _NET.format(
            body="        return torch.softmax(q @ k.transpose(-2, -1), -1)\n\n"
        ),
        # Landmark attention: means of queries and keys scaled by d ** -0.25 each.
        _NET.format(
            body="        q, k = q * 8 ** -0.25, k * 8 ** -0.25\n"
            "        qm, km = q.view(2, 5, 1, 8).mean(2), k.view(2, 5, 1, 8).mean(2)\n"
            "        return torch.softmax(qm @ km.transpose(-2, -1), -1) @ v\n\n"
        ),
        # Scaled queries stacked, then attended with.
        _NET.format(
            body="        q = torch.stack([q * 8 ** -0.5, q * 8 ** -0.5], 1)\n"
            "        w = torch.softmax(q @ k[:, None].transpose(-2, -1), -1)\n"
            "        return w @ v[:, None]\n\n"
        ),
        # A relative-position bias (a product of the unscaled query) added to the
        # scaled scores.
        _NET.format(
            body="        s = (q * 8 ** -0.5) @ k.transpose(-2, -1)\n"
            "        rel = torch.einsum('btc,sc->bts', q, self.qkv.weight[:5, :8])\n"
            "        return (s + rel).softmax(-1) @ v\n\n"
        ),
        # Width-1 "heads": the product is a plain outer product.
        _NET.format(
            body="        q, k = q[..., :1], k[..., :1]\n"
            "        return torch.softmax(q @ k.transpose(-2, -1), -1) @ v\n\n"
        ),
    ]
    INVALID = [
        GraphInvalid(
            _NET.format(
                body="        s = q @ k.transpose(-2, -1)\n"
                "        return s.softmax(-1) @ v\n\n"
            ),
            line=11,
        ),
        GraphInvalid(
            "import torch\nfrom torch import nn\n\n"
            "def attend(q, k, v):\n"
            "    w = torch.einsum('bid,bjd->bij', q, k)\n"
            "    return torch.einsum('bij,bjd->bid', w.softmax(-1), v)\n\n"
            "class Net(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.q = nn.Linear(8, 8)\n"
            "        self.drop = nn.Dropout(0.1)\n\n"
            "    def forward(self, x):\n"
            "        return attend(self.q(x), x, x)\n\n"
            "model = Net()\nexample_inputs = (torch.randn(2, 5, 8),)\n",
            line=5,
        ),
        GraphInvalid(
            _NET.format(
                body="        s = torch.matmul(q, k.transpose(1, 2)) + 0.5\n"
                "        w = nn.functional.dropout(s.softmax(-1), 0.1, self.training)\n"
                "        return torch.bmm(w, v)\n\n"
            ),
            line=11,
        ),
    ]

    def run(self, graph: Any) -> None:
        for node in graph.nodes:
            if graph.op(node) != "softmax" or not _weights_values(graph, node):
                continue
            products = _products_before(graph, node)
            if not products or any(_scaled_operands(graph, p) for p in products):
                continue
            operands = graph.tensor_inputs(products[0])
            shape = graph.shape(operands[0]) if operands else None
            if shape and shape[-1] <= 1:
                continue
            self.report(products[0])


def _products_before(graph: Any, softmax: Any) -> list[Any]:
    """The products feeding ``softmax`` through masks, biases and casts only; none
    when a scale stands on one of those paths. Several when biases are products
    too: SAM's and MViTv2's relative-position terms (``einsum`` of the unscaled query
    with position tables) are added to the scaled ``q @ k``, whose scale is the one
    that counts."""

    def inputs(node: Any) -> list[Any]:
        return graph.tensor_inputs(node) if graph.op(node) in _TO_SOFTMAX else []

    products = []
    for node in walk(graph.tensor_inputs(softmax)[:1], inputs):
        op = graph.op(node)
        if op in _SCALES:
            return []
        if op in _PRODUCTS:
            products.append(node)
    return products


# Ops an operand passes through keeping its scale: reshapes, slicing, splitting and
# joining (ProphetNet stacks its scaled n-gram queries), and means (Nystromformer's
# landmarks are means of the scaled queries and keys).
_KEEP_SCALE = PASS_THROUGH | {
    "chunk", "split", "unbind", "_to_copy", "stack", "cat", "mean"
}  # fmt: skip


def _scaled_operands(graph: Any, product: Any) -> bool:
    """A multiplication, division or normalisation on an operand's way to the
    product (through ops that keep the scale: ``_KEEP_SCALE``)."""

    def inputs(node: Any) -> list[Any]:
        return graph.tensor_inputs(node) if graph.op(node) in _KEEP_SCALE else []

    nodes = walk(graph.tensor_inputs(product), inputs)
    return any(graph.op(node) in _SCALES for node in nodes)


def _weights_values(graph: Any, softmax: Any) -> bool:
    """The softmax output reaches a product (with the values)."""

    def users(node: Any) -> list[Any]:
        op = graph.op(node)
        return list(node.users) if op in _TO_VALUES or op == "dropout" else []

    nodes = walk(softmax.users, users)
    return any(graph.op(node) in _PRODUCTS for node in nodes)
