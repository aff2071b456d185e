from __future__ import annotations

from typing import ClassVar

from nnlint.analysis.dataflow.values import Analysis, Kind, Loss, LossUse, Tensor
from nnlint.rules.base import Invalid
from nnlint.rules.needs import Needs
from nnlint.rules.nnl1_common import (
    LossWiringRule,
    Replacements,
    functional_loss_example,
    removal,
)


class SoftmaxBeforeCrossEntropy(LossWiringRule):
    """## What it does
    Finds softmax outputs (`F.softmax`, `torch.softmax`, `x.softmax(...)`, an
    `nn.Softmax` module, an `nn.Sequential` ending in `nn.Softmax`, a model whose
    `forward` returns a softmax) that reach the input of `nn.CrossEntropyLoss` or
    `F.cross_entropy`, following local variables, `self.<attr>` modules, returned
    values and tuples, model classes and loss helper functions defined in the same
    file, a model or a loss object passed into a training function (judged at each
    call site in the file), and `(model, batch, loss_fn)` factories.

    ## Why is this bad?
    Cross-entropy expects unnormalised logits and applies `log_softmax` itself. Given
    probabilities it computes `log_softmax(softmax(x))`: its inputs are squashed into
    `[0, 1]`, so the loss can never fall below `log(1 + (C - 1) / e)` (1.46 for 10
    classes, even for perfect predictions) and the gradients pass through two softmax
    Jacobians and come out damped. Training runs and every activation statistic looks
    healthy, so the mistake survives until someone wonders why accuracy plateaus.

    ## Example
    ```python
    import torch.nn.functional as F

    def training_step(model, x, y):
        probs = F.softmax(model(x), dim=1)
        return F.cross_entropy(probs, y)
    ```

    ## Use instead
    ```python
    import torch.nn.functional as F

    def training_step(model, x, y):
        return F.cross_entropy(model(x), y)
    ```
    Keep the softmax for inference only (`predict()`, metrics, under `torch.no_grad()`).

    ## Fix safety
    The fix removes the softmax (a line `x = F.softmax(x, ...)` is deleted; a trailing
    `nn.Softmax` is dropped from its `nn.Sequential`). It is unsafe: it changes the loss
    values and the training run, and whatever else read that tensor (a returned model
    output, a metric) now receives logits instead of probabilities.

    ## References
    * `torch.nn.CrossEntropyLoss`:
      <https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html>
      "The input is expected to contain the unnormalized logits for each class."
    """

    CODE = "NNL101"
    NAME = "softmax-before-cross-entropy"
    MESSAGE = (
        "Softmax output is passed to a cross-entropy loss, which applies log-softmax "
        "itself; pass the logits"
    )
    SEVERITY = "error"
    FIX_TITLE = "Remove the softmax (pass the logits)"
    FIX_IS_SAFE = False
    NEEDS = Needs(("cross_entropy", "CrossEntropyLoss"), scope="file")
    PAIRS: ClassVar[tuple[tuple[Loss, Kind], ...]] = ((Loss.CE, Kind.PROBS),)

    def fix(
        self, use: LossUse, tensor: Tensor, analysis: Analysis
    ) -> Replacements | None:
        return removal(tensor)

    VALID: ClassVar[list[str]] = [
        # The softmax only feeds a metric; the loss gets the logits.
        """\
import torch
import torch.nn.functional as F

def step(model, x, y):
    logits = model(x)
    probs = torch.softmax(logits, dim=-1)
    acc = (probs.argmax(-1) == y).float().mean()
    return F.cross_entropy(logits, y), acc
""",
        # forward returns logits, predict returns softmax: the loss uses forward.
        """\
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x)

    @torch.no_grad()
    def predict(self, x):
        return self.forward(x).softmax(dim=1)

model = Net()
criterion = nn.CrossEntropyLoss()
loss = criterion(model(torch.randn(2, 4)), torch.tensor([0, 1]))
""",
        # A user helper named ``softmax`` that is not torch's.
        """\
import torch.nn.functional as F
from mylib import softmax

def loss_fn(logits, y):
    return F.cross_entropy(softmax(logits), y)
""",
        # Attention softmax never reaches the loss.
        """\
import torch.nn as tnn
from torch.nn import functional as fn

class Attn(tnn.Module):
    def forward(self, q, k, v):
        attn = (q @ k.transpose(-2, -1)).softmax(-1)
        return attn @ v

def loss(logits, y):
    return fn.cross_entropy(logits, y)
""",
        # Softmax targets (distillation) are fine: only the input must be logits.
        """\
import torch
import torch.nn.functional as F

def distill(student_logits, teacher_logits):
    with torch.no_grad():
        targets = F.softmax(teacher_logits / 2.0, dim=-1)
    return F.cross_entropy(student_logits, targets)
""",
        # A training function judged at its call site: the model passed in returns
        # logits, so the loss is fed correctly.
        """\
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(x)

def train(model, loader):
    criterion = nn.CrossEntropyLoss()
    for x, y in loader:
        criterion(model(x), y).backward()

def main(loader):
    train(Net(), loader)
""",
    ]
    INVALID: ClassVar[list[Invalid]] = [
        functional_loss_example("F.softmax"),
        Invalid(
            """\
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 3), nn.Softmax(dim=1))

    def forward(self, x):
        return self.net(x)

model = Net()
criterion = nn.CrossEntropyLoss()

def train_step(x, y):
    out = model(x)
    return criterion(out, y)
""",
            line=6,
            column=51,
            fixed="""\
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 3))

    def forward(self, x):
        return self.net(x)

model = Net()
criterion = nn.CrossEntropyLoss()

def train_step(x, y):
    out = model(x)
    return criterion(out, y)
""",
        ),
        Invalid(
            """\
import torch
import torch.nn.functional as F

class Classifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(16, 10)
        self.act = torch.nn.Softmax(dim=1)

    def forward(self, x):
        x = self.head(x)
        x = self.act(x)
        return x

def step(x, y):
    return F.cross_entropy(Classifier()(x), y)
""",
            line=12,
            column=13,
            fixed="""\
import torch
import torch.nn.functional as F

class Classifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(16, 10)
        self.act = torch.nn.Softmax(dim=1)

    def forward(self, x):
        x = self.head(x)
        return x

def step(x, y):
    return F.cross_entropy(Classifier()(x), y)
""",
        ),
        Invalid(
            """\
import torch
import torch.nn as tnn

class Net(tnn.Module):
    def forward(self, x):
        logits = x * 2
        return logits, torch.softmax(logits, -1)

def step(x, y):
    model = Net()
    logits, probs = model(x)
    return tnn.CrossEntropyLoss()(probs, y)
""",
            line=7,
            column=24,
        ),
        # The model and the loss meet only in a training function, through its
        # call site in the same file.
        Invalid(
            """\
import torch.nn.functional as F
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        return F.softmax(self.fc(x), dim=1)

def train(model, loader):
    criterion = nn.CrossEntropyLoss()
    for x, y in loader:
        criterion(model(x), y).backward()

def main(loader):
    model = Net()
    train(model, loader)
""",
            line=10,
            column=16,
        ),
        # The loss object is itself a parameter of the training function.
        Invalid(
            """\
import torch.nn.functional as F
from torch import nn

def fit(model, criterion, batches):
    for x, y in batches:
        probs = F.softmax(model(x), dim=1)
        criterion(probs, y).backward()

def main(model, batches):
    fit(model, nn.CrossEntropyLoss(), batches)
""",
            line=6,
            column=17,
        ),
    ]
