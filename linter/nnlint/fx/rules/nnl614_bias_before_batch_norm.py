from __future__ import annotations

from typing import Any

from nnlint.fx.ops import PASS_THROUGH, WEIGHT_LAYERS
from nnlint.fx.rules.base import GraphInvalid, GraphRule


class BiasBeforeBatchNorm(GraphRule):
    """
    ## What it does
    Finds a Linear or Conv layer with a bias whose output goes straight into a
    BatchNorm (only reshapes or dropout in between, and nothing else reads it), found
    on the traced graph, so `nn.Sequential` stacks and helper-built blocks count too.

    ## Why is this bad?
    BatchNorm subtracts the per-channel batch mean, which removes any constant added
    before it: the bias receives zero gradient, never changes, and only wastes
    parameters and memory bandwidth. BatchNorm's own `beta` already provides the shift.

    ## Example
    ```python
    block = nn.Sequential(nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16), nn.ReLU())
    ```

    ## Use instead
    ```python
    block = nn.Sequential(
        nn.Conv2d(3, 16, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU()
    )
    ```

    ## Fix safety
    There is no automatic fix in graph mode (the source rule for the same pattern can
    rewrite the constructor call).

    ## References
    - [Ioffe & Szegedy, Batch Normalization (2015), section 3.2](https://arxiv.org/abs/1502.03167)
    - [PyTorch performance tuning guide: disable bias before BatchNorm](https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html)
    """

    CODE = "NNL614"
    NAME = "bias-before-batch-norm"
    MESSAGE = "layer bias directly followed by BatchNorm is redundant"
    SEVERITY = "warning"
    DUPLICATES = ("NNL403",)
    _NET = (
        "import torch\nfrom torch import nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 4, 3, bias={bias})\n"
        "        self.bn = nn.BatchNorm2d(4)\n\n"
        "    def forward(self, x):\n"
        "        return {body}\n\n"
        "model = Net()\nexample_inputs = (torch.randn(2, 3, 8, 8),)\n"
    )
    VALID = [
        _NET.format(bias=False, body="self.bn(self.conv(x))"),
        _NET.format(bias=True, body="self.bn(torch.relu(self.conv(x)))"),
        # The conv output is also used elsewhere: the bias matters there.
        _NET.format(bias=True, body="self.bn(self.conv(x)) + self.conv(x)"),
    ]
    INVALID = [
        GraphInvalid(_NET.format(bias=True, body="self.bn(self.conv(x))"), line=11),
        GraphInvalid(
            "import torch\nfrom torch import nn\n\n"
            "class Head(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.layers = nn.Sequential(\n"
            "            nn.Linear(8, 4), nn.BatchNorm1d(4), nn.ReLU()\n"
            "        )\n\n"
            "    def forward(self, x):\n"
            "        return self.layers(x)\n\n"
            "model = Head()\nexample_inputs = (torch.randn(3, 8),)\n",
            line=12,
        ),
        GraphInvalid(
            "import torch\nfrom torch import nn\n\n"
            "class Net(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.fc = nn.Linear(8, 4)\n"
            "        self.bn = nn.BatchNorm1d(4)\n\n"
            "    def forward(self, x):\n"
            "        h = self.fc(x.flatten(1))\n"
            "        return self.bn(h.view(x.shape[0], -1))\n\n"
            "model = Net()\nexample_inputs = (torch.randn(3, 2, 4),)\n",
            line=11,
        ),
    ]

    def run(self, graph: Any) -> None:
        calls: dict[str, list[Any]] = {}
        for node in graph.nodes:
            owner = graph.module_of(node)
            if graph.op(node) in WEIGHT_LAYERS and owner is not None:
                if getattr(owner[1], "bias", None) is not None:
                    calls.setdefault(owner[0], []).append(node)
        for name, nodes in calls.items():
            norms = [_sole_consumer(graph, node) for node in nodes]
            # A layer called more than once keeps its bias if any call needs it.
            if all(n is not None and graph.op(n) == "batch_norm" for n in norms):
                target = graph.module_of(norms[0])
                norm_name = f" `{target[0]}`" if target else ""
                layer = type(graph.module_of(nodes[0])[1]).__name__
                self.report(
                    nodes[0],
                    f"`{name}` ({layer}) has a bias that BatchNorm{norm_name} "
                    "cancels: construct it with bias=False",
                )


def _sole_consumer(graph: Any, node: Any) -> Any:
    """The op that alone consumes ``node``, looking through reshapes and dropout."""
    while len(node.users) == 1:
        (user,) = node.users
        if graph.op(user) not in PASS_THROUGH:
            return user
        node = user
    return None
