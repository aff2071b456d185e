from __future__ import annotations

from typing import Any

from nnlint.fx.rules.base import GraphInvalid, GraphRule

# Residual post-norms needed before the stack counts as deep: three post-LN transformer
# layers (attention + MLP sublayers each). Xiong et al. (2020) find post-LN needs a
# warm-up from about six layers on; shallow post-LN models train fine.
MIN_POST_NORMS = 6
_NORMS = ("layer_norm", "rms_norm", "group_norm")


class PostNormDeepStack(GraphRule):
    """
    ## What it does
    Counts residual blocks that normalise *after* the residual add, `norm(x + f(x))`
    (post-LN), in the traced graph, and reports the first one when the model stacks at
    least six of them. A pre-LN stack (`x + f(norm(x))`) with one final norm is not
    flagged.

    ## Why is this bad?
    In a post-LN stack the gradient of the early layers passes through every later
    norm; at initialisation the gradients near the output are large and the ones near
    the input vanish as depth grows. Deep post-LN transformers need a careful
    learning-rate warm-up and still diverge easily; pre-LN trains stably without one.

    ## Example
    ```python
    def forward(self, x):
        x = self.norm1(x + self.attn(x))
        return self.norm2(x + self.mlp(x))
    ```

    ## Use instead
    ```python
    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))  # and one final norm after the stack
    ```

    ## Fix safety
    There is no automatic fix: switching to pre-LN changes the model (retrain).

    ## References
    - [Xiong et al., On Layer Normalization in the Transformer Architecture (2020)](https://arxiv.org/abs/2002.04745)
    """

    CODE = "NNL613"
    NAME = "post-norm-deep-stack"
    MESSAGE = "post-LN residual blocks in a deep stack"
    SEVERITY = "warning"
    DUPLICATES = ("NNL401",)
    _BLOCK = (
        "class Block(nn.Module):\n"
        "    def __init__(self, d=8):\n"
        "        super().__init__()\n"
        "        self.ff = nn.Linear(d, d)\n"
        "        self.norm = nn.LayerNorm(d)\n\n"
        "    def forward(self, x):\n"
        "        return {body}\n\n"
    )
    VALID = [
        "import torch\nfrom torch import nn\n\n"
        + _BLOCK.format(body="x + self.ff(self.norm(x))")
        + "model = nn.Sequential(*[Block() for _ in range(8)], nn.LayerNorm(8))\n"
        "example_inputs = (torch.randn(2, 8),)\n",
        "import torch\nfrom torch import nn\n\n"
        + _BLOCK.format(body="self.norm(x + self.ff(x))")
        + "model = nn.Sequential(*[Block() for _ in range(2)])\n"
        "example_inputs = (torch.randn(2, 8),)\n",
        # Norms without a residual add in front are not post-LN blocks.
        "import torch\nfrom torch import nn\n\n"
        + _BLOCK.format(body="self.norm(self.ff(x))")
        + "model = nn.Sequential(*[Block() for _ in range(8)])\n"
        "example_inputs = (torch.randn(2, 8),)\n",
    ]
    INVALID = [
        GraphInvalid(
            "import torch\nfrom torch import nn\n\n"
            + _BLOCK.format(body="self.norm(x + self.ff(x))")
            + "model = nn.Sequential(*[Block() for _ in range(6)])\n"
            "example_inputs = (torch.randn(2, 8),)\n",
            line=11,
        ),
        GraphInvalid(
            "import torch\nimport torch.nn.functional as F\nfrom torch import nn\n\n"
            "class Stack(nn.Module):\n"
            "    def __init__(self, depth=8, d=8):\n"
            "        super().__init__()\n"
            "        self.ffs = nn.ModuleList(nn.Linear(d, d) for _ in range(depth))"
            "\n\n"
            "    def forward(self, x):\n"
            "        for ff in self.ffs:\n"
            "            x = F.layer_norm(x + ff(x), x.shape[-1:])\n"
            "        return x\n\n"
            "model = Stack()\nexample_inputs = (torch.randn(2, 8),)\n",
            line=12,
        ),
        GraphInvalid(
            "import torch\nfrom torch import nn\n\n"
            + _BLOCK.format(body="self.norm(self.ff(x) + x)")
            + "class Net(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.blocks = nn.Sequential(*[Block() for _ in range(12)])\n\n"
            "    def forward(self, x):\n"
            "        return self.blocks(x)\n\n"
            "model = Net()\nexample_inputs = (torch.randn(2, 8),)\n",
            line=11,
        ),
    ]

    def run(self, graph: Any) -> None:
        post = [n for n in graph.nodes if _is_post_norm(graph, n)]
        if len(post) >= MIN_POST_NORMS:
            self.report(
                post[0],
                f"{len(post)} residual blocks normalise after the add (post-LN); "
                "deep post-LN stacks need warm-up and diverge easily: use pre-LN "
                "(`x + f(norm(x))`) with a final norm",
            )


def _is_post_norm(graph: Any, node: Any) -> bool:
    if graph.op(node) not in _NORMS or not node.args:
        return False
    add = node.args[0]
    if not hasattr(add, "op") or graph.op(add) != "add" or len(add.args) < 2:
        return False
    # Pre-LN also normalises a residual sum, but the sum itself carries on as the skip
    # stream; in post-LN the norm's output replaces the stream.
    if any(graph.op(user) not in _NORMS for user in add.users):
        return False
    left, right = add.args[:2]
    if not (hasattr(left, "op") and hasattr(right, "op")):
        return False
    return _is_ancestor(left, right) or _is_ancestor(right, left)


def _is_ancestor(candidate: Any, node: Any) -> bool:
    seen, work = set(), [node]
    while work:
        current = work.pop()
        if current is candidate:
            return True
        if current not in seen:
            seen.add(current)
            work.extend(current.all_input_nodes)
    return False
