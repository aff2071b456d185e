from __future__ import annotations

from typing import Any

from nnlint.fx.ops import WEIGHT_LAYERS
from nnlint.fx.rules.base import GraphInvalid, GraphRule


class ConstantWeightsInConsecutiveLayers(GraphRule):
    """
    ## What it does
    Reads the actual parameter values of every Linear and Conv layer in the traced graph
    and reports two layers in a row (no other weight layer and no skip connection in
    between) whose weights are all zero, or all one constant. It does not matter which
    code set the values: `nn.init.zeros_`, `.data.fill_`, a checkpoint, a custom
    `_init_weights`.

    ## Why is this bad?
    With both layers zero, each one's gradient is a product with the other's weights:
    both stay zero forever. With constant weights every unit in a layer computes the
    same function and receives the same gradient, so the layer never breaks symmetry.
    A single zero-initialised layer is fine and deliberate (a LoRA `B` matrix, an
    adaLN-Zero modulation, a zero-initialised output head, torchvision's
    `zero_init_residual`): it is not reported.

    ## Example
    ```python
    mlp = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    for layer in (mlp[0], mlp[2]):
        nn.init.zeros_(layer.weight)
    ```

    ## Use instead
    ```python
    mlp = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    nn.init.zeros_(mlp[2].weight)  # zero-init the output layer only
    ```

    ## Fix safety
    There is no automatic fix.

    ## References
    - [Glorot & Bengio (2010), Understanding the difficulty of training deep
      feedforward neural networks](https://proceedings.mlr.press/v9/glorot10a.html)
    - [torch.nn.init](https://pytorch.org/docs/stable/nn.init.html)
    """

    CODE = "NNL612"
    NAME = "constant-weights-in-consecutive-layers"
    MESSAGE = "consecutive layers have all-zero or constant weights"
    DUPLICATES = ("NNL201",)
    VALID = [
        "import torch\nfrom torch import nn\n\n"
        "model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))\n"
        "nn.init.zeros_(model[2].weight)\n"
        "example_inputs = (torch.randn(3, 4),)\n",
        # A zero layer on a residual branch: the skip keeps the next input alive.
        "import torch\nfrom torch import nn\n\n"
        "class Res(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.branch = nn.Linear(4, 4)\n"
        "        self.head = nn.Linear(4, 2)\n"
        "        nn.init.zeros_(self.branch.weight)\n"
        "        nn.init.zeros_(self.head.weight)\n\n"
        "    def forward(self, x):\n"
        "        return self.head(x + self.branch(x))\n\n"
        "model = Res()\nexample_inputs = (torch.randn(3, 4),)\n",
        # LoRA: A random, B zero.
        "import torch\nfrom torch import nn\n\n"
        "model = nn.Sequential(nn.Linear(8, 2), nn.Linear(2, 8, bias=False))\n"
        "nn.init.zeros_(model[1].weight)\n"
        "example_inputs = (torch.randn(3, 8),)\n",
    ]
    INVALID = [
        GraphInvalid(
            "import torch\nfrom torch import nn\n\n"
            "class MLP(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.fc1 = nn.Linear(4, 8)\n"
            "        self.fc2 = nn.Linear(8, 2)\n"
            "        for layer in (self.fc1, self.fc2):\n"
            "            layer.weight.data.zero_()\n\n"
            "    def forward(self, x):\n"
            "        h = torch.relu(self.fc1(x))\n"
            "        return self.fc2(h)\n\n"
            "model = MLP()\nexample_inputs = (torch.randn(3, 4),)\n",
            line=13,
        ),
        GraphInvalid(
            "import torch\nfrom torch import nn\n\n"
            "class Convs(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.net = nn.Sequential(\n"
            "            nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3)\n"
            "        )\n\n"
            "    def forward(self, x):\n"
            "        return self.net(x)\n\n"
            "model = Convs()\n"
            "with torch.no_grad():\n"
            "    model.net[0].weight.fill_(0.1)\n"
            "    model.net[2].weight.fill_(0.1)\n"
            "example_inputs = (torch.randn(1, 3, 8, 8),)\n",
            line=12,
        ),
        GraphInvalid(
            "import torch\nfrom torch import nn\n\n"
            "class Net(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.a = nn.Linear(4, 4)\n"
            "        self.norm = nn.LayerNorm(4)\n"
            "        self.b = nn.Linear(4, 4)\n"
            "        nn.init.constant_(self.a.weight, 0.0)\n"
            "        nn.init.constant_(self.b.weight, 0.0)\n\n"
            "    def forward(self, x):\n"
            "        x = self.a(x)\n"
            "        return self.b(self.norm(x))\n\n"
            "model = Net()\nexample_inputs = (torch.randn(3, 4),)\n",
            line=14,
        ),
    ]

    def run(self, graph: Any) -> None:
        layers = {n: m for n in graph.nodes if (m := _weight_layer(graph, n))}
        constant = {n: v for n, (_, mod) in layers.items() if (v := _constant(mod))}
        for node, value in constant.items():
            for following in _next_layers(graph, node, layers):
                if following in constant:
                    first, second = layers[node][0], layers[following][0]
                    self.report(
                        node,
                        f"`{first}` and `{second}` both have constant weights "
                        f"({value} and {constant[following]}): neither can learn",
                    )
                    break


def _weight_layer(graph: Any, node: Any) -> tuple[str, Any] | None:
    if graph.op(node) not in WEIGHT_LAYERS:
        return None
    owner = graph.module_of(node)
    if owner is None or getattr(owner[1], "weight", None) is None:
        return None
    return owner


def _constant(module: Any) -> str | None:
    """``"0"``/``"0.1"`` when every weight has one value (read from the real module)."""
    import torch

    weight = module.weight
    if weight.is_meta or weight.numel() < 2:
        return None
    with torch.no_grad():
        flat = weight.reshape(-1)
        first = flat[0]
        # Random weights differ at once: probe two entries before a full pass.
        if bool(flat[-1] != first) or bool(flat[flat.numel() // 2] != first):
            return None
        if not bool((flat == first).all()):
            return None
        return f"{float(first):g}"


def _next_layers(graph: Any, start: Any, layers: dict[Any, Any]) -> list[Any]:
    """Weight layers reached from ``start`` through single-input ops (no skip joins)."""
    found, seen, work = [], set(), list(start.users)
    while work:
        node = work.pop()
        if node in seen:
            continue
        seen.add(node)
        if node in layers:
            found.append(node)
        elif len(graph.tensor_inputs(node)) <= 1 and node.op != "output":
            work.extend(node.users)
    return found
