from __future__ import annotations

from typing import ClassVar

from nnlint.analysis.dataflow.values import Analysis, Kind, Loss, LossUse, Tensor
from nnlint.rules.base import Invalid
from nnlint.rules.needs import Needs
from nnlint.rules.nnl1_common import LossWiringRule, Replacements, renamed

_TO_LOG = {"softmax": "log_softmax", "Softmax": "LogSoftmax"}


class SoftmaxBeforeNllLoss(LossWiringRule):
    """## What it does
    Finds softmax outputs (probabilities, not log-probabilities) that reach the input of
    `nn.NLLLoss` or `F.nll_loss`, through local variables, `self.<attr>` modules,
    `nn.Sequential` tails, returned values and model classes in the same file.

    ## Why is this bad?
    `NLLLoss` computes `-input[target]`: it expects log-probabilities. Given
    probabilities it minimises `-p[target]`, a linear score bounded in `[-1, 0]` whose
    gradient vanishes as soon as a prediction is confident, right or wrong. The model
    trains a little, then stalls, with nothing in the activations to show why.

    ## Example
    ```python
    out = F.softmax(self.fc(x), dim=1)
    loss = F.nll_loss(out, target)
    ```

    ## Use instead
    ```python
    out = F.log_softmax(self.fc(x), dim=1)
    loss = F.nll_loss(out, target)
    ```
    (or drop the softmax and use `F.cross_entropy` on the logits).

    ## Fix safety
    The fix renames the softmax to its log variant (`F.softmax` -> `F.log_softmax`,
    `x.softmax` -> `x.log_softmax`, `nn.Softmax` -> `nn.LogSoftmax`), keeping `dim`.
    It is unsafe: it deliberately changes the loss values and the training run, and any
    other reader of that tensor (a metric, a returned model output) now receives
    log-probabilities. It is offered only where the operation is spelled as an attribute
    (`F.softmax`), so no import has to be added.

    ## References
    * `torch.nn.NLLLoss`:
      <https://pytorch.org/docs/stable/generated/torch.nn.NLLLoss.html>
      "The input given through a forward call is expected to contain log-probabilities."
    """

    CODE = "NNL103"
    NAME = "softmax-before-nll-loss"
    MESSAGE = (
        "Softmax output is passed to an NLL loss, which expects log-probabilities; "
        "use log_softmax"
    )
    SEVERITY = "error"
    FIX_TITLE = "Use log_softmax instead of softmax"
    FIX_IS_SAFE = False
    NEEDS = Needs(("nll_loss", "NLLLoss"), scope="file")
    PAIRS: ClassVar[tuple[tuple[Loss, Kind], ...]] = ((Loss.NLL, Kind.PROBS),)

    def fix(
        self, use: LossUse, tensor: Tensor, analysis: Analysis
    ) -> Replacements | None:
        return renamed(tensor.origin.named_by, _TO_LOG)

    VALID: ClassVar[list[str]] = [
        """\
import torch.nn.functional as F

def loss_fn(logits, y):
    return F.nll_loss(F.log_softmax(logits, dim=1), y)
""",
        # log of the probabilities is a (less stable, but correct) log-probability.
        """\
import torch
from torch import nn

def loss_fn(logits, y):
    probs = torch.softmax(logits, dim=1)
    return nn.NLLLoss()(torch.log(probs), y)
""",
        # Softmax for a confidence metric; the loss gets log-probabilities.
        """\
import torch
import torch.nn.functional as F

def step(logits, y):
    log_probs = F.log_softmax(logits, dim=1)
    with torch.no_grad():
        confidence = F.softmax(logits, dim=1).max(dim=1).values.mean()
    return F.nll_loss(log_probs, y), confidence
""",
    ]
    INVALID: ClassVar[list[Invalid]] = [
        Invalid(
            """\
import torch.nn.functional as F

def loss_fn(logits, y):
    out = F.softmax(logits, dim=1)
    return F.nll_loss(out, y)
""",
            line=4,
            column=11,
            fixed="""\
import torch.nn.functional as F

def loss_fn(logits, y):
    out = F.log_softmax(logits, dim=1)
    return F.nll_loss(out, y)
""",
        ),
        Invalid(
            """\
import torch
from torch import nn

class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(32, 5)
        self.norm = nn.Softmax(dim=-1)

    def forward(self, x):
        return self.norm(self.proj(x))

tagger = Tagger()
criterion = nn.NLLLoss()
loss = criterion(tagger(torch.randn(4, 32)), torch.zeros(4, dtype=torch.long))
""",
            line=11,
            column=16,
            fixed="""\
import torch
from torch import nn

class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(32, 5)
        self.norm = nn.LogSoftmax(dim=-1)

    def forward(self, x):
        return self.norm(self.proj(x))

tagger = Tagger()
criterion = nn.NLLLoss()
loss = criterion(tagger(torch.randn(4, 32)), torch.zeros(4, dtype=torch.long))
""",
        ),
        Invalid(
            """\
from torch.nn import functional as fn

def loss_fn(scores, y):
    return fn.nll_loss(input=scores.softmax(1), target=y)
""",
            line=4,
            column=30,
            fixed="""\
from torch.nn import functional as fn

def loss_fn(scores, y):
    return fn.nll_loss(input=scores.log_softmax(1), target=y)
""",
        ),
    ]
