from __future__ import annotations

from typing import Any

from nnlint.findings import Severity
from nnlint.fx.ops import PASS_THROUGH
from nnlint.fx.rules.base import GraphInvalid, GraphRule

# (activation at the tail, loss family) -> what is wrong. Missing pairs are fine.
_WRONG = {
    ("softmax", "cross_entropy"): "softmax output fed to CrossEntropyLoss, which "
    "applies log_softmax itself: return the raw logits",
    ("sigmoid", "cross_entropy"): "sigmoid output fed to CrossEntropyLoss, which "
    "expects raw logits",
    ("log_softmax", "cross_entropy"): "log_softmax output fed to CrossEntropyLoss, "
    "which applies log_softmax again (redundant): return the raw logits",
    (
        "softmax",
        "nll",
    ): "softmax output fed to NLLLoss, which expects log-probabilities:"
    " use log_softmax",
    ("sigmoid", "nll"): "sigmoid output fed to NLLLoss, which expects "
    "log-probabilities: use log_softmax",
    ("sigmoid", "bce_with_logits"): "sigmoid output fed to BCEWithLogitsLoss, which "
    "applies sigmoid itself: return the raw logits",
    ("softmax", "bce_with_logits"): "softmax output fed to BCEWithLogitsLoss, which "
    "expects raw logits",
    ("softmax", "kl_div"): "softmax output fed to KLDivLoss, which expects "
    "log-probabilities as input: use log_softmax",
    # A ReLU on the logits: no class score can go below zero, and every negative
    # pre-activation gets no gradient at all.
    ("relu", "cross_entropy"): "ReLU applied to the logits fed to CrossEntropyLoss: "
    "scores cannot be negative and clipped ones get no gradient; drop it",
    ("relu", "bce_with_logits"): "ReLU applied to the logits fed to "
    "BCEWithLogitsLoss: the predicted probability can never fall below 0.5; drop it",
}
_ACTIVATIONS = frozenset(activation for activation, _ in _WRONG)


class ActivationBeforeLoss(GraphRule):
    """
    ## What it does
    Finds a softmax, log-softmax or sigmoid at the tail of the traced graph (the model
    returns its output, up to reshapes) when the model is trained with a loss that
    applies that normalisation itself or expects a different one: softmax into
    `CrossEntropyLoss` or `BCEWithLogitsLoss`, softmax or sigmoid into `NLLLoss`,
    sigmoid into `BCEWithLogitsLoss`, a ReLU on the logits of either logit loss. It
    works on the traced graph, so it does not care
    which attribute name holds the `nn.Softmax` (`self.act`, `self.head[-1]`) or which
    helper applied it.

    ## Why is this bad?
    `CrossEntropyLoss` applies `log_softmax` to its input. Fed probabilities, it
    computes the log-softmax of numbers in [0, 1]: the loss barely moves, the gradients
    shrink by orders of magnitude and training stalls, while every activation statistic
    looks healthy. This has no dynamic signature a health check could see.

    The loss comes from `check(loss_fn=...)` or from `loss = ...` in `[tool.nnlint.fx]`;
    without a known loss the rule stays silent. When the model also returns the raw
    logits next to the probabilities (`return logits, logits.softmax(-1)`), it is not
    flagged: the loss is probably computed on the logits.

    ## Example
    ```python
    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 10)
            self.act = nn.Softmax(dim=-1)

        def forward(self, x):
            return self.act(self.fc(x))  # trained with nn.CrossEntropyLoss()
    ```

    ## Use instead
    ```python
        def forward(self, x):
            return self.fc(x)  # logits; apply softmax in predict() only
    ```

    ## Fix safety
    There is no automatic fix: the softmax may also be used by inference code.

    ## References
    - [torch.nn.CrossEntropyLoss](https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html)
    - [torch.nn.BCEWithLogitsLoss](https://pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html)
    """

    CODE = "NNL610"
    NAME = "activation-before-loss"
    MESSAGE = "normalised output fed to a loss that expects something else"
    DUPLICATES = ("NNL101", "NNL103", "NNL105")
    VALID = [
        "import torch\nfrom torch import nn\n\n"
        "model = nn.Sequential(nn.Linear(8, 4))\n"
        "example_inputs = (torch.randn(2, 8),)\n"
        "loss_fn = nn.CrossEntropyLoss()\n",
        # Softmax at the tail, but the loss expects log-probabilities from log_softmax.
        "import torch\nfrom torch import nn\n\n"
        "model = nn.Sequential(nn.Linear(8, 4), nn.LogSoftmax(dim=-1))\n"
        "example_inputs = (torch.randn(2, 8),)\n"
        "loss_fn = nn.NLLLoss()\n",
        # The sigmoid is an extra output next to the logits (an accuracy metric).
        "import torch\nfrom torch import nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(8, 1)\n\n"
        "    def forward(self, x):\n"
        "        logits = self.fc(x)\n"
        "        return logits, torch.sigmoid(logits)\n\n"
        "model = Net()\nexample_inputs = (torch.randn(2, 8),)\n"
        "loss_fn = nn.BCEWithLogitsLoss()\n",
        # A ReLU at the tail of a regressor of non-negative targets is fine.
        "import torch\nfrom torch import nn\n\n"
        "model = nn.Sequential(\n"
        "    nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 1), nn.ReLU()\n"
        ")\n"
        "example_inputs = (torch.randn(2, 8),)\n"
        "loss_fn = nn.MSELoss()\n",
        # No loss known: nothing to judge against.
        "import torch\nfrom torch import nn\n\n"
        "model = nn.Sequential(nn.Linear(8, 4), nn.Softmax(dim=-1))\n"
        "example_inputs = (torch.randn(2, 8),)\n",
    ]
    INVALID = [
        GraphInvalid(
            "import torch\nfrom torch import nn\n\n"
            "class Net(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.fc = nn.Linear(8, 4)\n"
            "        self.act = nn.Softmax(dim=-1)\n\n"
            "    def forward(self, x):\n"
            "        return self.act(self.fc(x))\n\n"
            "model = Net()\nexample_inputs = (torch.randn(2, 8),)\n"
            "loss_fn = nn.CrossEntropyLoss()\n",
            line=11,
        ),
        GraphInvalid(
            "import torch\nimport torch.nn.functional as F\nfrom torch import nn\n\n"
            "class Net(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.fc = nn.Linear(8, 4)\n\n"
            "    def forward(self, x):\n"
            "        probs = F.softmax(self.fc(x), dim=-1)\n"
            "        return probs.view(x.shape[0], -1)\n\n"
            "model = Net()\nexample_inputs = (torch.randn(2, 8),)\n"
            "loss_fn = lambda out, y: F.cross_entropy(out, y)\n",
            line=11,
        ),
        GraphInvalid(
            "import torch\nfrom torch import nn\n\n"
            "class Net(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.fc = nn.Linear(8, 1)\n\n"
            "    def forward(self, x):\n"
            "        return self.fc(x).sigmoid()\n\n"
            "model = Net()\nexample_inputs = (torch.randn(2, 8),)\n"
            "loss_fn = nn.BCEWithLogitsLoss()\n",
            line=10,
        ),
        # ReLU after the last layer, inside a loop over a ModuleList.
        GraphInvalid(
            "import torch\nimport torch.nn.functional as F\nfrom torch import nn\n\n"
            "class Net(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.layers = nn.ModuleList(\n"
            "            [nn.Linear(8, 8), nn.Linear(8, 3)]\n"
            "        )\n\n"
            "    def forward(self, x):\n"
            "        for layer in self.layers:\n"
            "            x = F.relu(layer(x))\n"
            "        return x\n\n"
            "model = Net()\nexample_inputs = (torch.randn(2, 8),)\n"
            "loss_fn = nn.CrossEntropyLoss()\n",
            line=14,
        ),
    ]

    def run(self, graph: Any) -> None:
        if graph.loss is None:
            return
        leaves = list(_output_leaves(graph.output.args[0]))
        for leaf in leaves:
            node = _through_pass_through(graph, leaf)
            kind = graph.op(node)
            if kind not in _ACTIVATIONS or (kind, graph.loss) not in _WRONG:
                continue
            raw = node.all_input_nodes[0] if node.all_input_nodes else None
            if raw is not None and any(
                _through_pass_through(graph, other) is raw for other in leaves
            ):
                continue  # the raw input is returned too: the loss likely uses it
            # log_softmax is idempotent: before CrossEntropyLoss it only wastes work.
            redundant = (kind, graph.loss) == ("log_softmax", "cross_entropy")
            severity: Severity | None = "warning" if redundant else None
            self.report(node, _WRONG[(kind, graph.loss)], severity=severity)


def _output_leaves(value: Any) -> Any:
    """Every fx node returned by the model (inside tuples, lists and dicts)."""
    if isinstance(value, (tuple, list)):
        for item in value:
            yield from _output_leaves(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _output_leaves(item)
    elif hasattr(value, "op"):
        yield value


def _through_pass_through(graph: Any, node: Any) -> Any:
    """Walk back from ``node`` across reshapes and dropout to the op computing it."""
    while graph.op(node) in PASS_THROUGH and node.all_input_nodes:
        node = node.all_input_nodes[0]
    return node
