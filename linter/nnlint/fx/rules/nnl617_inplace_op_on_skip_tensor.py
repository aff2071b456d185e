from __future__ import annotations

from typing import Any

from nnlint.fx.rules.base import GraphInvalid, GraphRule

_JOINS = ("add", "cat", "mul", "sub")


class InplaceOpOnSkipTensor(GraphRule):
    """
    ## What it does
    Finds an in-place operation (`nn.ReLU(inplace=True)`, `F.relu(x, inplace=True)`,
    `x.relu_()`, `x.add_(...)`) applied to a tensor that a skip connection reads again
    later: the residual add or concatenation then combines the branch with the
    *modified* tensor instead of the block's input.

    ## Why is this bad?
    The skip path is meant to carry the unmodified input. After an in-place ReLU it
    carries `relu(x)`, so the block computes `f(relu(x)) + relu(x)`: the negative half
    of the signal is gone from the residual stream, with no error and usually no
    autograd complaint. torchvision's ResNet applies its in-place ReLU only to tensors
    nothing else reads, which is not flagged.

    ## Example
    ```python
    def forward(self, x):
        out = self.relu(x)  # nn.ReLU(inplace=True) modifies x
        out = self.conv(out)
        return out + x
    ```

    ## Use instead
    ```python
    def forward(self, x):
        out = self.conv(self.relu(x))  # nn.ReLU() (not in-place)
        return out + x
    ```

    ## Fix safety
    There is no automatic fix.

    ## References
    - [In-place operations with autograd](https://pytorch.org/docs/stable/notes/autograd.html#in-place-operations-with-autograd)
    """

    CODE = "NNL617"
    NAME = "inplace-op-on-skip-tensor"
    MESSAGE = "in-place op modifies a tensor that a skip connection reuses"
    DUPLICATES = ("NNL305",)
    _NET = (
        "import torch\nfrom torch import nn\n\n"
        "class Block(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.relu = nn.ReLU(inplace={inplace})\n"
        "        self.fc = nn.Linear(4, 4)\n\n"
        "    def forward(self, x):\n"
        "{body}"
        "model = Block()\nexample_inputs = (torch.randn(3, 4),)\n"
    )
    VALID = [
        _NET.format(
            inplace=False,
            body="        out = self.fc(self.relu(x))\n        return out + x\n\n",
        ),
        # torchvision style: the in-place ReLU acts on a tensor nothing else reads.
        _NET.format(
            inplace=True,
            body="        out = self.relu(self.fc(x))\n"
            "        out = self.fc(out)\n"
            "        out += x\n"
            "        return self.relu(out)\n\n",
        ),
        # Sequential in-place updates of one tensor, no skip reading the old value.
        _NET.format(
            inplace=True,
            body="        h = self.fc(x)\n        h.mul_(2)\n        return h + x\n\n",
        ),
    ]
    INVALID = [
        GraphInvalid(
            _NET.format(
                inplace=True,
                body="        out = self.relu(x)\n"
                "        out = self.fc(out)\n"
                "        return out + x\n\n",
            ),
            line=11,
        ),
        GraphInvalid(
            _NET.format(
                inplace=False,
                body="        out = self.fc(x.relu_())\n        return out + x\n\n",
            ),
            line=11,
        ),
        GraphInvalid(
            "import torch\nimport torch.nn.functional as F\nfrom torch import nn\n\n"
            "class Dense(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.fc = nn.Linear(4, 4)\n\n"
            "    def forward(self, x):\n"
            "        h = self.fc(x)\n"
            "        out = self.fc(F.relu(h, inplace=True))\n"
            "        return torch.cat([out, h], dim=-1)\n\n"
            "model = Dense()\nexample_inputs = (torch.randn(3, 4),)\n",
            line=12,
        ),
    ]

    def run(self, graph: Any) -> None:
        order = {node: index for index, node in enumerate(graph.nodes)}
        for node in graph.nodes:
            kind, inplace = graph.kind(node)
            if not inplace or not node.args or not hasattr(node.args[0], "op"):
                continue
            target = node.args[0]
            for user in target.users:
                if order[user] > order[node] and _joins_branch_of(graph, user, node):
                    self.report(
                        node,
                        f"in-place `{kind}` modifies a tensor that the skip path reads "
                        f"again (`{graph.op(user)}`): the skip carries the modified "
                        "value; use an out-of-place op",
                    )
                    break


def _joins_branch_of(graph: Any, join: Any, inplace: Any) -> bool:
    """``join`` combines the tensor with a branch computed from the in-place result."""
    if graph.op(join) not in _JOINS:
        return False
    seen, work = set(), [i for i in join.all_input_nodes if i is not inplace.args[0]]
    while work:
        node = work.pop()
        if node is inplace:
            return True
        if node not in seen:
            seen.add(node)
            work.extend(node.all_input_nodes)
    return False
