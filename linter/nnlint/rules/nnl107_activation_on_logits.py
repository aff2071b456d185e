from __future__ import annotations

from typing import ClassVar

from nnlint.analysis.dataflow.values import Analysis, Kind, Loss, LossUse, Tensor
from nnlint.rules.base import Invalid
from nnlint.rules.needs import Needs
from nnlint.rules.nnl1_common import LossWiringRule, Replacements, removal

# The start of the two-layer classifiers the examples build (ReLU placement varies).
_NET_HEAD = """\
import torch.nn.functional as F
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 8)
"""


class ActivationOnLogits(LossWiringRule):
    """## What it does
    Finds an activation (ReLU, ReLU6, LeakyReLU, ELU, SELU, CELU, GELU, SiLU, Mish,
    Softplus, Hardtanh, Tanh, as functions, tensor methods, `nn` modules or the last
    layer of an `nn.Sequential`; also a sigmoid before cross-entropy) applied to the
    final logits that reach `nn.CrossEntropyLoss`/`F.cross_entropy` or
    `nn.BCEWithLogitsLoss`/`F.binary_cross_entropy_with_logits`.

    ## Why is this bad?
    Those losses expect unconstrained real logits. A ReLU clips every negative logit to
    zero (with zero gradient), so the model cannot push wrong classes below the right
    one and dead output units never recover; tanh or sigmoid bound the logits to a small
    range, so the predicted probabilities can never become confident. The classic form
    is a `make_mlp()` helper that appends an activation after *every* layer, the last
    one included.

    ## Example
    ```python
    head = nn.Sequential(nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10), nn.ReLU())
    loss = F.cross_entropy(head(x), y)
    ```

    ## Use instead
    ```python
    head = nn.Sequential(nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    loss = F.cross_entropy(head(x), y)
    ```

    ## Fix safety
    The fix removes the activation. It is unsafe: it changes the model's outputs, the
    loss and the training run, and a checkpoint trained with the activation behaves
    differently without it.

    ## References
    * `torch.nn.CrossEntropyLoss`:
      <https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html>
      "The input is expected to contain the unnormalized logits for each class (which do
      not need to be positive or sum to 1, in general)."
    """

    CODE = "NNL107"
    NAME = "activation-on-logits"
    MESSAGE = (
        "An activation is applied to the logits of a loss that expects unconstrained "
        "logits; remove it"
    )
    SEVERITY = "error"
    FIX_TITLE = "Remove the activation on the logits"
    FIX_IS_SAFE = False
    NEEDS = Needs(
        (
            "cross_entropy",
            "CrossEntropyLoss",
            "binary_cross_entropy_with_logits",
            "BCEWithLogitsLoss",
        ),
        scope="file",
    )
    PAIRS: ClassVar[tuple[tuple[Loss, Kind], ...]] = (
        (Loss.CE, Kind.ACTIVATED),
        (Loss.BCE_LOGITS, Kind.ACTIVATED),
        (Loss.CE, Kind.SIGMOID),
    )

    def fix(
        self, use: LossUse, tensor: Tensor, analysis: Analysis
    ) -> Replacements | None:
        return removal(tensor)

    VALID: ClassVar[list[str]] = [
        # ReLU between hidden layers, linear logits at the end.
        """\
from torch import nn

head = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
criterion = nn.CrossEntropyLoss()

def step(x, y):
    return criterion(head(x), y)
""",
        # An activation on features that then go through the classifier.
        _NET_HEAD
        + """\
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        return self.fc2(x)

def step(x, y):
    return F.cross_entropy(Net()(x), y)
""",
        # A ReLU output used by a regression loss is fine.
        """\
import torch
import torch.nn.functional as F

def step(pred, y, logits, labels):
    rate = torch.relu(pred)
    return F.mse_loss(rate, y) + F.cross_entropy(logits, labels)
""",
        # A ReLU on hidden features only; the model passed in returns raw logits.
        _NET_HEAD
        + """\
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))

def train_step(model, x, y):
    return F.cross_entropy(model(x), y)

def run(x, y):
    return train_step(Net(), x, y)
""",
    ]
    INVALID: ClassVar[list[Invalid]] = [
        Invalid(
            """\
from torch import nn

head = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3), nn.ReLU())
criterion = nn.CrossEntropyLoss()

def step(x, y):
    return criterion(head(x), y)
""",
            line=3,
            column=68,
            fixed="""\
from torch import nn

head = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
criterion = nn.CrossEntropyLoss()

def step(x, y):
    return criterion(head(x), y)
""",
        ),
        Invalid(
            """\
import torch.nn.functional as F
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return F.relu(self.fc(x))

def step(x, y):
    return F.cross_entropy(Net()(x), y)
""",
            line=10,
            column=16,
            fixed="""\
import torch.nn.functional as F
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(x)

def step(x, y):
    return F.cross_entropy(Net()(x), y)
""",
        ),
        Invalid(
            """\
import torch
import torch.nn.functional as F

def step(logits, y):
    return F.binary_cross_entropy_with_logits(torch.tanh(logits), y)
""",
            line=5,
            column=47,
            fixed="""\
import torch
import torch.nn.functional as F

def step(logits, y):
    return F.binary_cross_entropy_with_logits(logits, y)
""",
        ),
        # ReLU after the output layer; the model meets the loss in a train step.
        Invalid(
            _NET_HEAD
            + """\
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        return F.relu(self.fc2(x))

def train_step(model, x, y):
    return F.cross_entropy(model(x), y)

def run(x, y):
    return train_step(Net(), x, y)
""",
            line=12,
            column=16,
        ),
    ]
