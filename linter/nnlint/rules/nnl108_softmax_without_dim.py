from __future__ import annotations

import ast
from typing import ClassVar

import libcst as cst

from nnlint.analysis.dataflow.origins import argument
from nnlint.rules.base import Invalid, Rule
from nnlint.rules.needs import Needs
from nnlint.rules.screens import call_name, calls, is_literal, keyword, starred

# qualified callable -> position of its ``dim`` parameter
_FUNCTIONS = {
    "torch.nn.functional.softmax": 1,
    "torch.nn.functional.log_softmax": 1,
    "torch.softmax": 1,
    "torch.log_softmax": 1,
    "torch.nn.Softmax": 0,
    "torch.nn.LogSoftmax": 0,
}
_METHODS = ("softmax", "log_softmax")
# The last name of every callable above: what a screen can see without the imports.
_SPELLINGS = frozenset(name.rpartition(".")[2] for name in _FUNCTIONS) | set(_METHODS)
_MINUS_ONE = cst.UnaryOperation(operator=cst.Minus(), expression=cst.Integer("1"))


def _may_omit_dim(statement: ast.stmt) -> bool:
    """A call spelled like a softmax that leaves ``dim`` out or passes ``None``:
    no keyword ``dim`` and at most one positional argument (``dim`` is the first
    or second), or ``None`` in one of those places. Starred arguments are never
    judged."""
    for call in calls(statement):
        if call_name(call) not in _SPELLINGS or starred(call):
            continue
        dim = keyword(call, "dim")
        if dim is not None:
            if is_literal(dim, None):
                return True
        elif len(call.args) <= 1 or any(is_literal(a, None) for a in call.args[:2]):
            return True
    return False


class SoftmaxWithoutDim(Rule):
    """## What it does
    Finds `softmax`/`log_softmax` calls that do not say over which dimension to
    normalise: `F.softmax(x)`, `F.log_softmax(x, dim=None)`, `torch.softmax(x)`,
    `x.softmax()`, and the modules `nn.Softmax()` / `nn.LogSoftmax()`.

    ## Why is this bad?
    Without `dim`, PyTorch guesses: dimension 0 for 0-, 1- and 3-D inputs, dimension 1
    otherwise, with a deprecation warning. For a `(batch, seq, vocab)` tensor that
    normalises over the *batch*: every number is a valid probability, training runs,
    and the model learns nonsense. The tensor-method and `torch.softmax` forms have no
    default at all and fail at run time.

    ## Example
    ```python
    probs = F.softmax(logits)
    self.act = nn.Softmax()
    ```

    ## Use instead
    ```python
    probs = F.softmax(logits, dim=-1)
    self.act = nn.Softmax(dim=1)
    ```

    ## Fix safety
    The fix adds `dim=-1` (or replaces `dim=None`). It is unsafe: for 2-D inputs it
    matches the implicit choice, but for 3-D inputs it changes dimension 0 to the last
    one and for 4-D inputs (e.g. `NCHW` segmentation maps, where the class axis is 1)
    it changes dimension 1 to the width axis. Check which axis holds the classes.

    ## References
    * `torch.nn.functional.softmax`:
      <https://pytorch.org/docs/stable/generated/torch.nn.functional.softmax.html>
      "dim (int): A dimension along which softmax will be computed."
    * `torch.nn.Softmax`:
      <https://pytorch.org/docs/stable/generated/torch.nn.Softmax.html>
    """

    CODE = "NNL108"
    NAME = "softmax-without-dim"
    MESSAGE = (
        "softmax without an explicit `dim`: the implicit dimension is deprecated and "
        "normalises over the batch for 3-D inputs"
    )
    SEVERITY = "warning"
    FIX_TITLE = "Pass dim=-1 explicitly"
    FIX_IS_SAFE = False
    NEEDS = Needs(("softmax", "Softmax"), screen=_may_omit_dim)

    def visit_Call(self, node: cst.Call) -> None:
        position = self._dim_position(node)
        if position is None or any(arg.star for arg in node.args):
            return
        dim = argument(node, position, "dim")
        if dim is None:
            keyword = cst.Arg(
                value=_MINUS_ONE,
                keyword=cst.Name("dim"),
                equal=cst.AssignEqual(
                    whitespace_before=cst.SimpleWhitespace(""),
                    whitespace_after=cst.SimpleWhitespace(""),
                ),
            )
            fixed = node.with_changes(args=[*node.args, keyword])
            self.report(node, replacements={node: fixed})
        elif isinstance(dim, cst.Name) and dim.value == "None":
            self.report(node, replacements={dim: _MINUS_ONE})

    def _dim_position(self, node: cst.Call) -> int | None:
        qualified = self.qualified_name(node.func)
        if qualified is not None:
            return _FUNCTIONS.get(qualified)
        func = node.func
        # ``x.softmax()``: a tensor method, unless the receiver is an imported module
        # (``scipy.special.softmax`` has its own default) or ``self`` (a user method).
        if not isinstance(func, cst.Attribute) or func.attr.value not in _METHODS:
            return None
        receiver = func.value
        if isinstance(receiver, cst.Name) and receiver.value in ("self", "cls"):
            return None
        if self.qualified_name(receiver) is not None:
            return None
        return 0 if not node.args else None

    VALID: ClassVar[list[str]] = [
        """\
import torch.nn.functional as F
from torch import nn

probs = F.softmax(logits, dim=-1)
log_probs = F.log_softmax(logits, 1)
act = nn.Softmax(dim=1)
""",
        # A user helper and other libraries' softmax have their own defaults.
        """\
from scipy import special
from mylib import softmax

a = special.softmax(x)
b = softmax(x)
""",
        """\
import torch

class Model:
    def softmax(self):
        return torch.softmax(self.logits, -1)

    def run(self):
        return self.softmax()

y = x.softmax(-1)
""",
    ]
    INVALID: ClassVar[list[Invalid]] = [
        Invalid(
            """\
import torch.nn.functional as F

probs = F.softmax(logits)
""",
            line=3,
            column=9,
            fixed="""\
import torch.nn.functional as F

probs = F.softmax(logits, dim=-1)
""",
        ),
        Invalid(
            """\
import torch.nn as tnn

class Head(tnn.Module):
    def __init__(self):
        super().__init__()
        self.out = tnn.LogSoftmax()
""",
            line=6,
            column=20,
            fixed="""\
import torch.nn as tnn

class Head(tnn.Module):
    def __init__(self):
        super().__init__()
        self.out = tnn.LogSoftmax(dim=-1)
""",
        ),
        Invalid(
            """\
from torch.nn import functional as fn

def scores(x):
    return fn.log_softmax(x, dim=None), x.softmax()
""",
            line=4,
            column=12,
            fixed="""\
from torch.nn import functional as fn

def scores(x):
    return fn.log_softmax(x, dim=-1), x.softmax(dim=-1)
""",
        ),
    ]
