from __future__ import annotations

from nnlint.fx.rules.base import GraphInvalid, GraphRule


class UntraceableModel(GraphRule):
    """
    ## What it does
    Reports, once per model, that graph mode could not trace the model's `forward`, with
    the reason and the line where tracing stopped. Source rules still apply to the file.

    ## Why is this bad?
    It is not a defect in itself: Python control flow that depends on tensor *values*
    (`if x.sum() > 0:`) cannot be captured by `torch.fx` symbolic tracing nor by
    `torch.export`, so none of the graph rules could check this model. Control flow that
    depends only on *shapes* is captured by the `torch.export` fallback.

    ## Example
    ```python
    class Gate(nn.Module):
        def forward(self, x):
            if x.sum() > 0:  # data-dependent branch
                return x
            return -x
    ```

    ## Use instead
    ```python
    class Gate(nn.Module):
        def forward(self, x):
            return torch.where(x.sum() > 0, x, -x)
    ```

    ## Fix safety
    There is no automatic fix.

    ## References
    - [torch.fx limitations of symbolic tracing](https://pytorch.org/docs/stable/fx.html#limitations-of-symbolic-tracing)
    - [torch.export: data-dependent control flow](https://pytorch.org/docs/stable/export.html)
    """

    CODE = "NNL600"
    NAME = "untraceable-model"
    MESSAGE = "model not traced; graph rules skipped"
    SEVERITY = "info"
    REPORTED_BY_ENGINE = True
    VALID = [
        "import torch\nfrom torch import nn\n\n"
        "class Gate(nn.Module):\n"
        "    def forward(self, x):\n"
        "        return torch.where(x.sum() > 0, x, -x)\n\n"
        "model = Gate()\nexample_inputs = (torch.randn(2, 3),)\n",
        # Shape-dependent control flow: torch.export captures what fx cannot.
        "import torch\nfrom torch import nn\n\n"
        "class Flat(nn.Module):\n"
        "    def forward(self, x):\n"
        "        if x.dim() > 2:\n"
        "            x = x.flatten(1)\n"
        "        return x * 2\n\n"
        "model = Flat()\nexample_inputs = (torch.randn(2, 3, 4),)\n",
        "import torch\nfrom torch import nn\n\n"
        "model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())\n"
        "example_inputs = (torch.randn(2, 3),)\n",
    ]
    INVALID = [
        GraphInvalid(
            "import torch\nfrom torch import nn\n\n"
            "class Gate(nn.Module):\n"
            "    def forward(self, x):\n"
            "        if x.sum() > 0:\n"
            "            return x\n"
            "        return -x\n\n"
            "model = Gate()\nexample_inputs = (torch.randn(2, 3),)\n",
            line=6,
        ),
        GraphInvalid(
            "import torch\nfrom torch import nn\n\n"
            "class Loop(nn.Module):\n"
            "    def forward(self, x):\n"
            "        while x.abs().max() > 1:\n"
            "            x = x / 2\n"
            "        return x\n\n"
            "model = Loop()\nexample_inputs = (torch.randn(2, 3),)\n",
            line=6,
        ),
        GraphInvalid(
            "import torch\nfrom torch import nn\n\n"
            "class Item(nn.Module):\n"
            "    def forward(self, x):\n"
            "        n = int(x.max().item())\n"
            "        return x[:, : n + 1]\n\n"
            "model = Item()\nexample_inputs = (torch.ones(2, 3),)\n",
            line=6,
        ),
    ]
