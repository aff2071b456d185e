"""NNL404: Dropout whose output goes straight into BatchNorm."""

from __future__ import annotations

import ast

import libcst as cst

from nnlint.analysis.container_links import container_links
from nnlint.analysis.cst_syntax import argument
from nnlint.analysis.module_model import class_model
from nnlint.analysis.norm_kinds import BATCH_NORM, DROPOUT, Link
from nnlint.rules.base import Invalid
from nnlint.rules.container_rule import ContainerLinkRule
from nnlint.rules.needs import Needs
from nnlint.rules.screens import identifiers

_DROPOUT_SPELLINGS = frozenset(kind.rpartition(".")[2] for kind in DROPOUT)


def _names_a_dropout(statement: ast.stmt) -> bool:
    """The finding points at the dropout feeding the norm, whose module is built
    in the same class or container, or which is called as a function there."""
    return not identifiers(statement).isdisjoint(_DROPOUT_SPELLINGS)


def _is_identity(ctor: cst.Call | None, kind: str) -> bool:
    """A dropout that provably never drops: ``p=0`` or ``training=False``."""
    if ctor is None:
        return False
    functional = kind.startswith("torch.nn.functional.")
    p = argument(ctor, 1 if functional else 0, "p")
    if isinstance(p, cst.Integer | cst.Float) and float(p.value) == 0.0:
        return True
    training = argument(ctor, 2, "training") if functional else None
    return isinstance(training, cst.Name) and training.value == "False"


class DropoutBeforeBatchNorm(ContainerLinkRule):
    """
    ## What it does
    Flags a `Dropout`/`Dropout1d/2d/3d` module, or `F.dropout`/`F.dropout2d` call,
    whose output goes straight into a `BatchNorm*d`/`SyncBatchNorm`: adjacent
    elements of `nn.Sequential(...)`, a list literal or an `OrderedDict([...])`; a
    nested call `self.bn(self.drop(x))`; or consecutive statements `h =
    self.drop(h)` / `h = self.bn(h)`. A dropout with a literal `p=0` (or
    `training=False`) is an identity and is not reported. `AlphaDropout` is not
    reported: it is designed to keep the mean and variance of its input.

    ## Why is this bad?
    In training, dropout scales the surviving units by `1/(1-p)`, which changes the
    variance of its output; BatchNorm accumulates its running variance from those
    training-mode statistics. In eval mode dropout is off, the variance reaching
    BatchNorm is different, and the running statistics no longer match: the
    "variance shift" measurably hurts eval accuracy. Put dropout after the last
    BatchNorm (just before the classifier), or after the BatchNorm of the block.

    ## Example
    ```python
    from torch import nn

    head = nn.Sequential(nn.Linear(512, 256), nn.Dropout(0.5), nn.BatchNorm1d(256))
    ```

    ## Use instead
    ```python
    from torch import nn

    head = nn.Sequential(nn.Linear(512, 256), nn.BatchNorm1d(256), nn.Dropout(0.5))
    ```

    ## Fix safety
    There is no automatic fix: moving the dropout changes the model's function and
    its training; where it belongs depends on the architecture.

    ## References
    - Li, Chen, Hu & Yang, "Understanding the Disharmony between Dropout and Batch
      Normalization by Variance Shift" (CVPR 2019).
    - [torch.nn.Dropout](https://pytorch.org/docs/stable/generated/torch.nn.Dropout.html)
    """

    CODE = "NNL404"
    NAME = "dropout-before-batchnorm"
    MESSAGE = (
        "Dropout feeds BatchNorm directly: its statistics shift between train and eval"
    )
    SEVERITY = "warning"
    NEEDS = Needs(("BatchNorm",), screen=_names_a_dropout)

    VALID = [
        # Dropout after the BatchNorm is the recommended order.
        "from torch import nn\n"
        "head = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.Dropout(0.2))\n",
        # p=0 never drops anything.
        "import torch.nn as tnn\n"
        "m = tnn.Sequential(tnn.Dropout(p=0.0), tnn.BatchNorm1d(4))\n",
        # AlphaDropout keeps mean and variance; a layer sits between Dropout and BN.
        "from torch import nn\n"
        "a = nn.Sequential(nn.AlphaDropout(0.1), nn.BatchNorm1d(4))\n"
        "b = nn.Sequential(nn.Dropout(0.1), nn.Linear(4, 4), nn.BatchNorm1d(4))\n",
        # The dropout output goes into a LayerNorm, not a BatchNorm.
        "from torch import nn\n"
        "class Block(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.drop = nn.Dropout(0.1)\n"
        "        self.norm = nn.LayerNorm(16)\n"
        "        self.bn = nn.BatchNorm1d(16)\n"
        "    def forward(self, x):\n"
        "        return self.bn(x) + self.norm(self.drop(x))\n",
        # A user's own dropout-like class is not torch's.
        "from torch import nn\n"
        "class Dropout(nn.Module):\n"
        "    pass\n"
        "m = nn.Sequential(Dropout(), nn.BatchNorm2d(3))\n",
    ]
    INVALID = [
        Invalid(
            "from torch import nn\n"
            "head = nn.Sequential(nn.Linear(64, 32), nn.Dropout(0.5),"
            " nn.BatchNorm1d(32))\n",
            line=2,
            column=41,
        ),
        Invalid(
            "import torch\n"
            "import torch.nn.functional as F\n"
            "class Tower(torch.nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.norm = torch.nn.BatchNorm2d(8)\n"
            "    def forward(self, x):\n"
            "        return self.norm(F.dropout2d(x, 0.3, self.training))\n",
            line=8,
            column=26,
        ),
        Invalid(
            "from torch.nn import BatchNorm1d, Dropout, Module\n"
            "class Head(Module):\n"
            "    def __init__(self, width):\n"
            "        super().__init__()\n"
            "        self.dropout = Dropout(p=0.25)\n"
            "        self.batchnorm = BatchNorm1d(width)\n"
            "    def forward(self, features):\n"
            "        features = self.dropout(features)\n"
            "        features = self.batchnorm(features)\n"
            "        return features\n",
            line=8,
            column=20,
        ),
    ]

    def check_container(
        self, node: cst.Call | cst.List, scope: cst.CSTNode | None
    ) -> None:
        for link in container_links(node, self.qualified_name, scope):
            self._check(link, link.producer_ctor)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        for link in class_model(self.context, node).links():
            # The module's constructor holds ``p``; a functional call holds it itself.
            ctor = link.producer_ctor
            if link.producer_attr is None and isinstance(link.producer, cst.Call):
                ctor = link.producer
            self._check(link, ctor)

    def _check(self, link: Link, ctor: cst.Call | None) -> None:
        if link.producer_kind not in DROPOUT or link.consumer_kind not in BATCH_NORM:
            return
        if id(link.producer) in self.flagged or _is_identity(ctor, link.producer_kind):
            return
        self.flagged.add(id(link.producer))
        name = link.producer_kind.rsplit(".", 1)[-1]
        norm = link.consumer_kind.rsplit(".", 1)[-1]
        self.report(
            link.producer,
            f"`{name}` feeds `{norm}` directly: the variance BatchNorm sees shifts "
            "between train and eval; move the dropout after the BatchNorm",
        )
