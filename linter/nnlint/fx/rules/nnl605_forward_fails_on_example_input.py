from __future__ import annotations

from nnlint.fx.rules.base import GraphInvalid, GraphRule


class ForwardFailsOnExampleInput(GraphRule):
    """
    ## What it does
    Runs the traced graph on fake tensors shaped like the example input and reports the
    first operation that raises (a Linear fed the wrong width, a reshape that does not
    fit), at the line that created it. A failing add or multiply is reported by NNL611
    instead.

    ## Why is this bad?
    The model cannot run on the input it documents; often the input (or a constructor
    argument) changed and the model did not follow.

    ## Example
    ```python
    self.fc = nn.Linear(32, 10)
    ...
    return self.fc(x.flatten(1))  # x.flatten(1) has 64 features
    ```

    ## Use instead
    ```python
    self.fc = nn.Linear(64, 10)  # or nn.LazyLinear(10)
    ```

    ## Fix safety
    There is no automatic fix.

    ## References
    - [torch.fx.Interpreter](https://pytorch.org/docs/stable/fx.html#the-interpreter-pattern)
    """

    CODE = "NNL605"
    NAME = "forward-fails-on-example-input"
    MESSAGE = "the forward pass fails on the example input"
    SEVERITY = "error"
    REPORTED_BY_ENGINE = True

    VALID = [
        "import torch\nfrom torch import nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(12, 2)\n\n"
        "    def forward(self, x):\n"
        "        return self.fc(x.flatten(1))\n\n"
        "model = Net()\nexample_inputs = (torch.randn(2, 3, 4),)\n",
        "import torch\nfrom torch import nn\n\n"
        "model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(2))\n"
        "model(torch.randn(1, 3, 6, 6))\n"
        "example_inputs = (torch.randn(2, 3, 6, 6),)\n",
        "import torch\nfrom torch import nn\n\n"
        "model = nn.Embedding(10, 4)\n"
        "example_inputs = (torch.zeros(2, 5, dtype=torch.long),)\n",
    ]
    INVALID = [
        GraphInvalid(
            "import torch\nfrom torch import nn\n\n"
            "class Net(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.fc = nn.Linear(32, 2)\n\n"
            "    def forward(self, x):\n"
            "        return self.fc(x.flatten(1))\n\n"
            "model = Net()\nexample_inputs = (torch.randn(2, 4, 16),)\n",
            line=10,
        ),
        GraphInvalid(
            "import torch\nfrom torch import nn\n\n"
            "class Net(nn.Module):\n"
            "    def forward(self, x):\n"
            "        return x.view(x.shape[0], 5)\n\n"
            "model = Net()\nexample_inputs = (torch.randn(2, 8),)\n",
            line=6,
        ),
        GraphInvalid(
            "import torch\nfrom torch import nn\n\n"
            "class Net(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.conv = nn.Conv2d(4, 8, 3)\n\n"
            "    def forward(self, x):\n"
            "        return self.conv(x)\n\n"
            "model = Net()\nexample_inputs = (torch.randn(2, 3, 8, 8),)\n",
            line=10,
        ),
    ]
