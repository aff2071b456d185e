from __future__ import annotations

from typing import ClassVar

from nnlint.analysis.dataflow.values import Analysis, Kind, Loss, LossUse, Tensor
from nnlint.rules.base import Invalid
from nnlint.rules.needs import Needs
from nnlint.rules.nnl1_common import LossWiringRule, Replacements, removal


class SigmoidBeforeBceWithLogits(LossWiringRule):
    """## What it does
    Finds sigmoid outputs (`torch.sigmoid`, `F.sigmoid`, `x.sigmoid()`, `nn.Sigmoid`,
    an `nn.Sequential` ending in `nn.Sigmoid`, a model returning a sigmoid) that reach
    the input of `nn.BCEWithLogitsLoss` or `F.binary_cross_entropy_with_logits`.

    ## Why is this bad?
    The with-logits loss applies the sigmoid itself. Given probabilities it computes
    `BCE(sigmoid(sigmoid(x)))`: predictions are confined to `[0.5, 0.73]`, the loss can
    never approach zero and gradients are damped by two sigmoid derivatives. Training
    "works" but converges to a poor model.

    ## Example
    ```python
    probs = torch.sigmoid(model(x))
    loss = F.binary_cross_entropy_with_logits(probs, target)
    ```

    ## Use instead
    ```python
    logits = model(x)
    loss = F.binary_cross_entropy_with_logits(logits, target)
    probs = torch.sigmoid(logits)  # for metrics, if needed
    ```

    ## Fix safety
    The fix removes the sigmoid. It is unsafe: the loss values change, and any other
    reader of that tensor (a metric, a returned model output) now receives logits.

    ## References
    * `torch.nn.BCEWithLogitsLoss`:
      <https://pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html>
      "This loss combines a Sigmoid layer and the BCELoss in one single class."
    """

    CODE = "NNL105"
    NAME = "sigmoid-before-bce-with-logits"
    MESSAGE = (
        "Sigmoid output is passed to a BCE-with-logits loss, which applies sigmoid "
        "itself; pass the logits"
    )
    SEVERITY = "error"
    FIX_TITLE = "Remove the sigmoid (pass the logits)"
    FIX_IS_SAFE = False
    NEEDS = Needs(
        ("binary_cross_entropy_with_logits", "BCEWithLogitsLoss"), scope="file"
    )
    PAIRS: ClassVar[tuple[tuple[Loss, Kind], ...]] = ((Loss.BCE_LOGITS, Kind.SIGMOID),)

    def fix(
        self, use: LossUse, tensor: Tensor, analysis: Analysis
    ) -> Replacements | None:
        return removal(tensor)

    VALID: ClassVar[list[str]] = [
        # The sigmoid only feeds an accuracy metric.
        """\
import torch
import torch.nn.functional as F

def step(logits, y):
    probs = torch.sigmoid(logits)
    acc = ((probs > 0.5) == y).float().mean()
    loss = F.binary_cross_entropy_with_logits(logits, y)
    return loss, acc
""",
        # A sigmoid gate inside the model, then a linear head.
        """\
import torch
from torch import nn

class Gated(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = nn.Linear(8, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        return self.head(x * torch.sigmoid(self.gate(x)))

criterion = nn.BCEWithLogitsLoss()

def step(x, y):
    return criterion(Gated()(x), y)
""",
        # Sigmoid targets (soft labels) are fine.
        """\
import torch.nn.functional as F

def loss_fn(student_logits, teacher_logits):
    return F.binary_cross_entropy_with_logits(student_logits, teacher_logits.sigmoid())
""",
        # The criterion passed in is a BCELoss, which expects probabilities.
        """\
import torch
from torch import nn

def fit(model, criterion, x, y):
    criterion(torch.sigmoid(model(x)), y).backward()

def main(model, x, y):
    fit(model, nn.BCELoss(), x, y)
""",
    ]
    INVALID: ClassVar[list[Invalid]] = [
        Invalid(
            """\
import torch
import torch.nn.functional as F

def loss_fn(logits, y):
    probs = torch.sigmoid(logits)
    return F.binary_cross_entropy_with_logits(probs, y)
""",
            line=5,
            column=13,
            fixed="""\
import torch
import torch.nn.functional as F

def loss_fn(logits, y):
    probs = logits
    return F.binary_cross_entropy_with_logits(probs, y)
""",
        ),
        Invalid(
            """\
from torch import nn

class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.score = nn.Sequential(
            nn.Linear(8, 1),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.score(x)

loss_fn = nn.BCEWithLogitsLoss()

def step(x, y):
    det = Detector()
    return loss_fn(det(x).squeeze(-1), y)
""",
            line=8,
            column=13,
            fixed="""\
from torch import nn

class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.score = nn.Sequential(
            nn.Linear(8, 1),
        )

    def forward(self, x):
        return self.score(x)

loss_fn = nn.BCEWithLogitsLoss()

def step(x, y):
    det = Detector()
    return loss_fn(det(x).squeeze(-1), y)
""",
        ),
        Invalid(
            """\
import torch.nn as tnn
import torch.nn.functional as F

class Head(tnn.Module):
    def __init__(self):
        super().__init__()
        self.fc = tnn.Linear(4, 1)
        self.out = tnn.Sigmoid()

    def forward(self, x):
        h = self.fc(x)
        return h, self.out(h)

def step(x, y):
    _, p = Head()(x)
    return F.binary_cross_entropy_with_logits(p, y)
""",
            line=12,
            column=19,
            fixed="""\
import torch.nn as tnn
import torch.nn.functional as F

class Head(tnn.Module):
    def __init__(self):
        super().__init__()
        self.fc = tnn.Linear(4, 1)
        self.out = tnn.Sigmoid()

    def forward(self, x):
        h = self.fc(x)
        return h, h

def step(x, y):
    _, p = Head()(x)
    return F.binary_cross_entropy_with_logits(p, y)
""",
        ),
        # A loss built differently on two branches is still one loss.
        Invalid(
            """\
import torch
from torch import nn

class Trainer:
    def __init__(self, model, pos_weight=None):
        self.model = model
        if pos_weight is None:
            self.loss = nn.BCEWithLogitsLoss()
        else:
            self.loss = nn.BCEWithLogitsLoss(pos_weight=pos_weight)

    def step(self, x, y):
        return self.loss(torch.sigmoid(self.model(x)), y)
""",
            line=13,
            column=26,
        ),
    ]
