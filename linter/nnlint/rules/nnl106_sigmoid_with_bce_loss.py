from __future__ import annotations

from typing import ClassVar

from nnlint.analysis.dataflow.values import Analysis, Kind, Loss, LossUse, Tensor
from nnlint.rules.base import Invalid
from nnlint.rules.needs import Needs
from nnlint.rules.nnl1_common import LossWiringRule, Replacements, removal, renamed

_TO_WITH_LOGITS = {
    "binary_cross_entropy": "binary_cross_entropy_with_logits",
    "BCELoss": "BCEWithLogitsLoss",
}


class SigmoidWithBceLoss(LossWiringRule):
    """## What it does
    Finds sigmoid outputs (`torch.sigmoid`, `F.sigmoid`, `x.sigmoid()`, `nn.Sigmoid`,
    a model returning a sigmoid) that reach the input of `nn.BCELoss` or
    `F.binary_cross_entropy`.

    ## Why is this bad?
    Sigmoid followed by `BCELoss` computes `log(sigmoid(x))` in two steps: for large
    `|x|` the sigmoid rounds to exactly 0 or 1, the log becomes `-inf`, and PyTorch
    clamps it to -100, so confident mistakes get a constant loss and no gradient. The
    fused `BCEWithLogitsLoss` uses the log-sum-exp form, which is exact everywhere, and
    is also the one that is safe under autocast (mixed precision refuses `BCELoss`).

    ## Example
    ```python
    loss = F.binary_cross_entropy(torch.sigmoid(logits), target)
    ```

    ## Use instead
    ```python
    loss = F.binary_cross_entropy_with_logits(logits, target)
    ```

    ## Fix safety
    The fix removes the sigmoid and switches the loss to its with-logits form
    (`F.binary_cross_entropy` -> `F.binary_cross_entropy_with_logits`, `nn.BCELoss` ->
    `nn.BCEWithLogitsLoss`; both take `weight` and `reduction`). It is unsafe: loss
    values change where the old form was clamped, and it is offered only when the
    sigmoid output feeds nothing but this loss and the loss object is not shared with
    other calls.

    ## References
    * `torch.nn.BCEWithLogitsLoss`:
      <https://pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html>
      "This version is more numerically stable than using a plain Sigmoid followed by a
      BCELoss as, by combining the operations into one layer, we take advantage of the
      log-sum-exp trick for numerical stability."
    """

    CODE = "NNL106"
    NAME = "sigmoid-with-bce-loss"
    MESSAGE = (
        "Sigmoid followed by BCELoss is numerically unstable; pass the logits to "
        "BCEWithLogitsLoss"
    )
    SEVERITY = "warning"
    FIX_TITLE = "Drop the sigmoid and use the with-logits loss"
    FIX_IS_SAFE = False
    NEEDS = Needs(("binary_cross_entropy", "BCELoss"), scope="file")
    PAIRS: ClassVar[tuple[tuple[Loss, Kind], ...]] = ((Loss.BCE, Kind.SIGMOID),)

    def fix(
        self, use: LossUse, tensor: Tensor, analysis: Analysis
    ) -> Replacements | None:
        if not use.single_use or analysis.uses_of(use.named_by) != 1:
            return None
        drop, rename = removal(tensor), renamed(use.named_by, _TO_WITH_LOGITS)
        if drop is None or rename is None:
            return None
        return {**drop, **rename}

    VALID: ClassVar[list[str]] = [
        """\
import torch.nn.functional as F

def loss_fn(logits, y):
    return F.binary_cross_entropy_with_logits(logits, y)
""",
        # BCELoss on probabilities that do not come from a sigmoid we can see.
        """\
from torch import nn

criterion = nn.BCELoss()

def step(model, x, y):
    return criterion(model(x), y)
""",
        # A sigmoid for a metric beside a BCE on another model's probabilities.
        """\
import torch
import torch.nn.functional as F

def step(logits, probs, y):
    acc = ((torch.sigmoid(logits) > 0.5) == y).float().mean()
    return F.binary_cross_entropy(probs, y), acc
""",
    ]
    INVALID: ClassVar[list[Invalid]] = [
        Invalid(
            """\
import torch
import torch.nn.functional as F

def loss_fn(logits, y):
    return F.binary_cross_entropy(torch.sigmoid(logits), y, reduction="sum")
""",
            line=5,
            column=35,
            fixed="""\
import torch
import torch.nn.functional as F

def loss_fn(logits, y):
    return F.binary_cross_entropy_with_logits(logits, y, reduction="sum")
""",
        ),
        Invalid(
            """\
from torch import nn

bce = nn.BCELoss()

def step(scores, y):
    p = scores.sigmoid()
    return bce(p, y)
""",
            line=6,
            column=9,
            fixed="""\
from torch import nn

bce = nn.BCEWithLogitsLoss()

def step(scores, y):
    p = scores
    return bce(p, y)
""",
        ),
        # The model returns probabilities to every caller: reported, no fix.
        Invalid(
            """\
import torch.nn as tnn

class Scorer(tnn.Module):
    def __init__(self):
        super().__init__()
        self.fc = tnn.Linear(4, 1)
        self.act = tnn.Sigmoid()

    def forward(self, x):
        return self.act(self.fc(x))

def step(x, y):
    return tnn.BCELoss()(Scorer()(x), y)
""",
            line=10,
            column=16,
        ),
    ]
