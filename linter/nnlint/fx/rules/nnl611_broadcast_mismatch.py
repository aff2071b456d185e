from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from nnlint.fx.ops import PASS_THROUGH
from nnlint.fx.rules.base import GraphInvalid, GraphRule

_ELEMENTWISE = ("add", "mul")


class BroadcastMismatch(GraphRule):
    """
    ## What it does
    Checks every traced add and multiply against the shapes propagated from the
    example input. It reports operands whose shapes cannot be combined (the forward pass
    fails there: typically a residual whose branch width depends on constructor
    arguments), and operands that *are* combined but only by silent broadcasting that
    is rarely meant:

    * a lower-rank operand whose single trailing axis of size 1 is stretched across the
      result's last (feature) axis, e.g. a `(T, 1)` tensor added to `(B, T, D)`;
    * an operand pair that are *both* stretched, with different ranks, e.g. `(N, 1)` +
      `(N,)` giving an `(N, N)` matrix.

    Same-rank broadcasting (`(B, C, 1, 1)` time embeddings, `(B, T, 1)` gates, `(B, 1,
    1, T)` attention masks) and bias vectors `(D,)` are not flagged, nor is an operand
    given its size-1 axis explicitly (`pos[..., None] * inv_freq`, `x.unsqueeze(-1)`,
    `x.view(n, -1, 1, 1)`): that broadcast is written on purpose (an outer product such
    as rotary frequencies). A `(C, 1)` operand on a convolution's `(B, C, L)` output
    is a per-channel bias or scale (channels come first there), not flagged either.

    ## Why is this bad?
    Broadcasting never raises: a tensor of the wrong shape is quietly repeated, the
    model trains on garbage, and the loss still goes down a little. A shape error that
    shows up only for some constructor arguments passes every test that happens to use
    the others.

    ## Example
    ```python
    def forward(self, x):                  # x: (B, T, D)
        bias = self.pos_bias[: x.shape[1]]  # (T, 1): meant (T, D)
        return x + bias
    ```

    ## Use instead
    ```python
    def forward(self, x):
        return x + self.pos_bias[: x.shape[1]]  # pos_bias: (max_len, D)
    ```

    ## Fix safety
    There is no automatic fix: the intended shape is not known.

    ## References
    - [PyTorch broadcasting semantics](https://pytorch.org/docs/stable/notes/broadcasting.html)
    """

    CODE = "NNL611"
    NAME = "broadcast-mismatch"
    MESSAGE = "elementwise operands have mismatched or silently broadcast shapes"
    DUPLICATES = ("NNL301",)
    VALID = [
        "import torch\nfrom torch import nn\n\n"
        "class Res(nn.Module):\n"
        "    def __init__(self, d=8):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(d, d)\n"
        "        self.bias = nn.Parameter(torch.zeros(d))\n\n"
        "    def forward(self, x):\n"
        "        return x + self.fc(x) + self.bias\n\n"
        "model = Res()\nexample_inputs = (torch.randn(2, 5, 8),)\n",
        "import torch\nfrom torch import nn\n\n"
        "class Gate(nn.Module):\n"
        "    def forward(self, x, mask):\n"
        "        return x * mask.unsqueeze(-1)\n\n"
        "model = Gate()\nexample_inputs = (torch.randn(2, 5, 8), torch.ones(2, 5))\n",
        "import torch\nfrom torch import nn\n\n"
        "class TimeCond(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.emb = nn.Linear(4, 3)\n\n"
        "    def forward(self, h, t):\n"
        "        return h + self.emb(t)[:, :, None, None]\n\n"
        "model = TimeCond()\n"
        "example_inputs = (torch.randn(2, 3, 6, 6), torch.randn(2, 4))\n",
        # Rotary frequencies: an outer product written with an explicit new axis.
        "import torch\nfrom torch import nn\n\n"
        "class Rotary(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.register_buffer('inv_freq', torch.rand(4))\n\n"
        "    def forward(self, positions):\n"
        "        return positions[..., None].float() * self.inv_freq\n\n"
        "model = Rotary()\n"
        "example_inputs = (torch.arange(6).repeat(2, 1),)\n",
        # Singleton axes made by a view, for a block-diagonal expansion.
        "import torch\nfrom torch import nn\n\n"
        "class Expand(nn.Module):\n"
        "    def forward(self, x):\n"
        "        n, c = x.shape[:2]\n"
        "        x = x.view(n * c, -1, 1, 1)\n"
        "        return x * torch.eye(2)\n\n"
        "model = Expand()\nexample_inputs = (torch.randn(2, 3, 4),)\n",
        # A per-channel bias on a Conv1d's (B, C, L) output.
        "import torch\nfrom torch import nn\n\n"
        "class SepConv(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv1d(4, 6, 1, bias=False)\n"
        "        self.bias = nn.Parameter(torch.zeros(6, 1))\n\n"
        "    def forward(self, x):\n"
        "        return self.conv(x) + self.bias\n\n"
        "model = SepConv()\nexample_inputs = (torch.randn(2, 4, 5),)\n",
    ]
    INVALID = [
        GraphInvalid(
            "import torch\nfrom torch import nn\n\n"
            "class Block(nn.Module):\n"
            "    def __init__(self, d_model=8, d_ff=16):\n"
            "        super().__init__()\n"
            "        self.ff = nn.Linear(d_model, d_ff)\n\n"
            "    def forward(self, x):\n"
            "        return x + self.ff(x)\n\n"
            "model = Block()\nexample_inputs = (torch.randn(2, 5, 8),)\n",
            line=10,
        ),
        GraphInvalid(
            "import torch\nfrom torch import nn\n\n"
            "class PosBias(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.pos = nn.Parameter(torch.zeros(16, 1))\n\n"
            "    def forward(self, x):\n"
            "        bias = self.pos[: x.shape[1]]\n"
            "        return x + bias\n\n"
            "model = PosBias()\nexample_inputs = (torch.randn(2, 5, 8),)\n",
            line=11,
        ),
        GraphInvalid(
            "import torch\nfrom torch import nn\n\n"
            "class Score(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.fc = nn.Linear(8, 1)\n\n"
            "    def forward(self, x, target):\n"
            "        return self.fc(x) * target\n\n"
            "model = Score()\nexample_inputs = (torch.randn(4, 8), torch.randn(4))\n",
            line=10,
        ),
    ]

    def run(self, graph: Any) -> None:
        failure = graph.failure
        for node in graph.nodes:
            kind = graph.op(node)
            if kind not in _ELEMENTWISE:
                continue
            shapes = [graph.shape(a) for a in node.args[:2]]
            if any(shape is None for shape in shapes):
                continue
            left, right = shapes
            if failure is not None and failure.node is node:
                message = f"{kind} of shapes {_fmt(left)} and {_fmt(right)} fails: "
                self.report(node, message + "the shapes cannot be broadcast together")
                continue
            problem = _silent_broadcast(left, right)
            if problem and _on_purpose(graph, node.args[:2], (left, right)):
                continue
            if problem:
                message = f"{kind} of shapes {_fmt(left)} and {_fmt(right)}: {problem}"
                self.report(node, message, severity="warning")


def _on_purpose(
    graph: Any, operands: tuple[Any, ...], shapes: tuple[tuple[int, ...], ...]
) -> bool:
    """An explicit new axis on either operand, or a per-channel operand of a
    channels-first tensor."""
    if any(_new_axis(graph, operand) for operand in operands):
        return True
    (left, right), (left_shape, right_shape) = operands, shapes
    return _per_channel(graph, left, right_shape) or _per_channel(
        graph, right, left_shape
    )


def _new_axis(graph: Any, node: Any) -> bool:
    """``node`` got a size-1 axis explicitly (``x[..., None]``, ``x.unsqueeze(d)``, a
    ``view``/``reshape`` to more size-1 axes than its input had, as in
    ``x.view(n, -1, 1, 1)``), through casts and other pass-through ops: a broadcast
    written on purpose."""
    for step in _produced_by(graph, node):
        kind = graph.op(step)
        if kind == "unsqueeze" or (kind == "getitem" and _indexes_none(step)):
            return True
        inputs = step.all_input_nodes
        if kind in ("view", "reshape") and inputs:
            if _ones(graph.shape(step)) > _ones(graph.shape(inputs[0])):
                return True
    return False


def _produced_by(graph: Any, node: Any) -> Iterator[Any]:
    """``node``, then its first input and so on while the op is a pass-through
    (casts, views, slicing): the ops that made the value, nearest first."""
    while hasattr(node, "op"):
        yield node
        if graph.op(node) not in PASS_THROUGH or not node.all_input_nodes:
            return
        node = node.all_input_nodes[0]


def _ones(shape: tuple[int, ...] | None) -> int:
    return -1 if shape is None else sum(1 for size in shape if size == 1)


# Producers of channels-first tensors, (N, C, ...): a (C, 1) operand is per channel.
_CHANNELS_FIRST = frozenset({"conv", "batch_norm", "group_norm", "instance_norm"})


def _per_channel(graph: Any, node: Any, small: tuple[int, ...]) -> bool:
    """``small`` lines up with the channel axis of ``node``, the output of a
    convolution or a channel norm (through pass-through ops): a per-channel bias or
    scale such as ``nn.Parameter(torch.zeros(channels, 1))`` on a Conv1d output."""
    big = graph.shape(node)
    if big is None or len(big) < 3 or len(small) >= len(big):
        return False
    aligned = (1,) * (len(big) - len(small)) + tuple(small)
    if [i for i, size in enumerate(aligned) if size != 1] != [1]:
        return False
    return any(graph.op(step) in _CHANNELS_FIRST for step in _produced_by(graph, node))


def _indexes_none(node: Any) -> bool:
    index = node.args[1] if len(node.args) > 1 else ()
    return index is None or (isinstance(index, tuple) and None in index)


def _silent_broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> str | None:
    result = _broadcast(a, b)
    if result is None:
        return None
    if len(a) != len(b) and a != result and b != result and _numel(a) > 1 < _numel(b):
        return f"both operands are stretched into {_fmt(result)}"
    for small in (a, b):
        if (
            len(small) < len(result)
            and len(small) >= 2
            and small[-1] == 1 < result[-1]
            and small[-2] != 1
        ):
            return (
                f"the {_fmt(small)} operand is repeated across the last axis of "
                f"size {result[-1]}"
            )
    return None


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    out = []
    for x, y in itertools.zip_longest(reversed(a), reversed(b), fillvalue=1):
        if x != y and 1 not in (x, y):
            return None
        out.append(max(x, y))
    return tuple(reversed(out))


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _fmt(shape: tuple[int, ...]) -> str:
    return (
        "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
    )
