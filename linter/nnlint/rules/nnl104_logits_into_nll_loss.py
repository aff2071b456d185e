from __future__ import annotations

from typing import ClassVar

import libcst as cst

from nnlint.analysis.dataflow.values import Analysis, Kind, Loss, LossUse, Tensor
from nnlint.rules.base import Invalid
from nnlint.rules.needs import Needs
from nnlint.rules.nnl1_common import LossWiringRule, Replacements, renamed

_TO_CROSS_ENTROPY = {"nll_loss": "cross_entropy", "NLLLoss": "CrossEntropyLoss"}


class LogitsIntoNllLoss(LossWiringRule):
    """## What it does
    Finds raw logits (the output of an `nn.Linear`/`nn.Conv*` layer or `F.linear`, an
    `nn.Sequential` ending in one, or a model whose `forward` returns one) that reach
    the input of `nn.NLLLoss` or `F.nll_loss` with no `log_softmax` in between. The
    finding is reported at the loss call.

    ## Why is this bad?
    `NLLLoss` only picks `-input[target]`; it does not normalise. Fed logits, it rewards
    making the target logit large without bound and never pushes the other classes
    down, so the loss diverges to minus infinity while accuracy stays poor.

    ## Example
    ```python
    logits = self.classifier(features)
    loss = F.nll_loss(logits, target)
    ```

    ## Use instead
    ```python
    logits = self.classifier(features)
    loss = F.cross_entropy(logits, target)  # = nll_loss(log_softmax(logits, 1), target)
    ```

    ## Fix safety
    The fix switches the loss to cross-entropy (`F.nll_loss` -> `F.cross_entropy`,
    `nn.NLLLoss` -> `nn.CrossEntropyLoss`, same arguments: both accept `weight`,
    `ignore_index` and `reduction`). It is unsafe: it changes the loss values and the
    training run. It is offered only when the loss is spelled as an attribute and the
    criterion object is not shared with other loss calls.

    ## References
    * `torch.nn.NLLLoss`:
      <https://pytorch.org/docs/stable/generated/torch.nn.NLLLoss.html>
      "Obtaining log-probabilities in a neural network is easily achieved by adding a
      LogSoftmax layer in the last layer of your network."
    """

    CODE = "NNL104"
    NAME = "logits-into-nll-loss"
    MESSAGE = (
        "Raw logits are passed to an NLL loss, which expects log-probabilities; "
        "add log_softmax or use cross_entropy"
    )
    SEVERITY = "error"
    FIX_TITLE = "Use cross-entropy on the logits"
    FIX_IS_SAFE = False
    NEEDS = Needs(("nll_loss", "NLLLoss"), scope="file")
    PAIRS: ClassVar[tuple[tuple[Loss, Kind], ...]] = ((Loss.NLL, Kind.LOGITS),)

    def reported_node(self, use: LossUse, tensor: Tensor) -> cst.CSTNode:
        return use.call

    def message(self, use: LossUse) -> str:
        return self.MESSAGE

    def fix(
        self, use: LossUse, tensor: Tensor, analysis: Analysis
    ) -> Replacements | None:
        if analysis.uses_of(use.named_by) != 1:
            return None  # a shared criterion: renaming it would change its other uses
        return renamed(use.named_by, _TO_CROSS_ENTROPY)

    VALID: ClassVar[list[str]] = [
        """\
import torch.nn.functional as F
from torch import nn

fc = nn.Linear(8, 4)

def loss_fn(x, y):
    return F.nll_loss(F.log_softmax(fc(x), dim=1), y)
""",
        # The model ends in LogSoftmax: its output is log-probabilities.
        """\
from torch import nn

model = nn.Sequential(nn.Linear(8, 4), nn.LogSoftmax(dim=1))
criterion = nn.NLLLoss()

def step(x, y):
    return criterion(model(x), y)
""",
        # Unknown provenance (a parameter) is never guessed to be logits.
        """\
import torch.nn.functional as F

def loss_fn(log_probs, y):
    return F.nll_loss(log_probs, y)
""",
    ]
    INVALID: ClassVar[list[Invalid]] = [
        Invalid(
            """\
import torch.nn.functional as F
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(x)

def step(x, y):
    return F.nll_loss(Net()(x), y)
""",
            line=13,
            column=12,
            fixed="""\
import torch.nn.functional as F
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(x)

def step(x, y):
    return F.cross_entropy(Net()(x), y)
""",
        ),
        Invalid(
            """\
import torch.nn as tnn

model = tnn.Sequential(tnn.Linear(8, 6), tnn.ReLU(), tnn.Linear(6, 4), tnn.Dropout())
criterion = tnn.NLLLoss(ignore_index=-1)

def step(x, y):
    out = model(x)
    return criterion(out, y)
""",
            line=8,
            column=12,
            fixed="""\
import torch.nn as tnn

model = tnn.Sequential(tnn.Linear(8, 6), tnn.ReLU(), tnn.Linear(6, 4), tnn.Dropout())
criterion = tnn.CrossEntropyLoss(ignore_index=-1)

def step(x, y):
    out = model(x)
    return criterion(out, y)
""",
        ),
        # The criterion is shared with a correct use: reported, not renamed.
        Invalid(
            """\
import torch.nn.functional as F
from torch import nn

criterion = nn.NLLLoss()

def step(weight, x, y):
    good = criterion(F.log_softmax(x, 1), y)
    bad = criterion(F.linear(x, weight), y)
    return good + bad
""",
            line=8,
            column=11,
        ),
    ]
