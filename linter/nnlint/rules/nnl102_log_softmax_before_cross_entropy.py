from __future__ import annotations

from typing import ClassVar

import libcst as cst

from nnlint.analysis.dataflow.values import Analysis, Kind, Loss, LossUse, Tensor
from nnlint.rules.base import Invalid
from nnlint.rules.needs import Needs
from nnlint.rules.nnl1_common import (
    LossWiringRule,
    Replacements,
    functional_loss_example,
    integer_value,
    removal,
)


class LogSoftmaxBeforeCrossEntropy(LossWiringRule):
    """## What it does
    Finds log-softmax outputs (`F.log_softmax`, `torch.log_softmax`,
    `x.log_softmax(...)`, `nn.LogSoftmax`, `torch.log(softmax)`) that reach the input of
    `nn.CrossEntropyLoss` or `F.cross_entropy`, through the same data flow as NNL101.

    ## Why is this bad?
    Cross-entropy already applies `log_softmax`, and `log_softmax` is idempotent, so the
    extra one computes the same loss at the price of one more pass over the logits (and
    its memory). It usually means the author meant `F.nll_loss`, or half-converted
    between the two idioms; readers cannot tell which one the model was trained with.

    ## Example
    ```python
    loss = F.cross_entropy(F.log_softmax(logits, dim=1), target)
    ```

    ## Use instead
    ```python
    loss = F.cross_entropy(logits, target)
    # or, equivalently
    loss = F.nll_loss(F.log_softmax(logits, dim=1), target)
    ```

    ## Fix safety
    The fix removes the log-softmax and is safe: it is offered only when the log-softmax
    output feeds nothing but this loss (passed inline, or through a local read once) and
    is taken over the class dimension (`dim=1`, or `dim=-1` on a tensor just reshaped to
    two dimensions), where `cross_entropy(log_softmax(x)) == cross_entropy(x)` exactly
    in real arithmetic (differences are float rounding). A log-softmax over another
    axis, or one a model returns to other callers, gets no fix: removing it would change
    values.

    ## References
    * `torch.nn.CrossEntropyLoss`:
      <https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html>
      "This criterion computes the cross entropy loss between input logits and target"
      and is equivalent to `LogSoftmax` followed by `NLLLoss`.
    """

    CODE = "NNL102"
    NAME = "log-softmax-before-cross-entropy"
    MESSAGE = (
        "Log-softmax output is passed to a cross-entropy loss, which applies "
        "log-softmax itself (redundant)"
    )
    SEVERITY = "warning"
    FIX_TITLE = "Remove the redundant log-softmax"
    FIX_IS_SAFE = True
    NEEDS = Needs(("cross_entropy", "CrossEntropyLoss"), scope="file")
    PAIRS: ClassVar[tuple[tuple[Loss, Kind], ...]] = ((Loss.CE, Kind.LOG_PROBS),)

    def fix(
        self, use: LossUse, tensor: Tensor, analysis: Analysis
    ) -> Replacements | None:
        origin = tensor.origin
        if not use.single_use or not _over_class_dim(origin.dim, origin.inner):
            return None
        return removal(tensor)

    VALID: ClassVar[list[str]] = [
        """\
import torch.nn.functional as F

def loss_fn(logits, y):
    return F.nll_loss(F.log_softmax(logits, dim=1), y)
""",
        # Log-probabilities for a metric next to a cross-entropy on logits.
        """\
import torch
from torch import nn

criterion = nn.CrossEntropyLoss()

def step(model, x, y):
    logits = model(x)
    log_probs = torch.log_softmax(logits, dim=-1)
    entropy = -(log_probs.exp() * log_probs).sum(-1).mean()
    return criterion(logits, y), entropy
""",
        # A KL term on log-probabilities beside the cross-entropy.
        """\
import torch.nn.functional as F

def loss_fn(student, teacher, y):
    kl = F.kl_div(F.log_softmax(student, -1), F.softmax(teacher, -1))
    return F.cross_entropy(student, y) + kl
""",
        # A (model, batch, loss_fn) factory whose model returns logits.
        """\
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(x)

def make_model():
    return Net(), (torch.randn(2, 8), torch.tensor([0, 1])), nn.CrossEntropyLoss()
""",
    ]
    INVALID: ClassVar[list[Invalid]] = [
        functional_loss_example("F.log_softmax"),
        Invalid(
            """\
from torch import nn

def lm_loss(logits, labels, vocab):
    log_probs = logits.view(-1, vocab).log_softmax(dim=-1)
    return nn.CrossEntropyLoss()(log_probs, labels.view(-1))
""",
            line=4,
            column=17,
            fixed="""\
from torch import nn

def lm_loss(logits, labels, vocab):
    log_probs = logits.view(-1, vocab)
    return nn.CrossEntropyLoss()(log_probs, labels.view(-1))
""",
        ),
        # Returned by the model to any caller: reported, but no fix.
        Invalid(
            """\
import torch.nn as tnn

class Net(tnn.Module):
    def __init__(self):
        super().__init__()
        self.body = tnn.Sequential(tnn.Linear(4, 3), tnn.LogSoftmax(dim=1))

    def forward(self, x):
        return self.body(x)

def train(x, y):
    net = Net()
    loss = tnn.CrossEntropyLoss()(net(x), y)
    return loss
""",
            line=6,
            column=54,
        ),
        # A (model, batch, loss_fn) factory (the nnhealth and graph-mode convention)
        # is the only place the model meets its loss.
        Invalid(
            """\
import torch
import torch.nn.functional as F
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        return F.log_softmax(self.fc(x), dim=1)

def make_model():
    return Net(), (torch.randn(2, 8), torch.tensor([0, 1])), nn.CrossEntropyLoss()
""",
            line=11,
            column=16,
        ),
    ]


def _over_class_dim(
    dim: cst.BaseExpression | None, inner: cst.BaseExpression | None
) -> bool:
    """Whether ``dim`` is the dimension cross-entropy normalises over (dimension 1)."""
    value = integer_value(dim)
    if value == 1:
        return True
    return value == -1 and _is_two_dimensional(inner)


def _is_two_dimensional(node: cst.BaseExpression | None) -> bool:
    """``x.view(a, b)`` / ``x.reshape(a, b)``: a 2-D tensor, where -1 is dimension 1."""
    return (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value in ("view", "reshape")
        and len(node.args) == 2
        and not any(arg.star or arg.keyword for arg in node.args)
    )
