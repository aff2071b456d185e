"""NNL403: a Linear/Conv layer with a bias feeding straight into BatchNorm."""

from __future__ import annotations

import ast

import libcst as cst

from nnlint.analysis.container_links import container_links
from nnlint.analysis.cst_syntax import argument
from nnlint.analysis.module_model import class_model
from nnlint.analysis.norm_kinds import BATCH_NORM, Link
from nnlint.rules.base import Invalid
from nnlint.rules.container_rule import ContainerLinkRule
from nnlint.rules.needs import Needs
from nnlint.rules.screens import call_name, calls, is_literal, keyword

# Where ``bias`` sits among the positional parameters of each constructor.
_BIAS_POSITION = {
    "torch.nn.Linear": 2,
    "torch.nn.LazyLinear": 1,
    **{
        f"torch.nn.{kind}{dims}d": 7
        for kind in ("Conv", "ConvTranspose")
        for dims in "123"
    },
    **{
        f"torch.nn.{kind}{dims}d": 6
        for kind in ("LazyConv", "LazyConvTranspose")
        for dims in "123"
    },
}


def _short(kind: str) -> str:
    return kind.rsplit(".", 1)[-1]


_LAYER_SPELLINGS = frozenset(_short(kind) for kind in _BIAS_POSITION)


def _builds_a_biased_layer(statement: ast.stmt) -> bool:
    """The finding points at the layer's constructor, which must be a call spelled
    like one of the layers above that does not say ``bias=False``."""
    return any(
        call_name(call) in _LAYER_SPELLINGS
        and not is_literal(keyword(call, "bias"), False)
        for call in calls(statement)
    )


def _bias_is_on(call: cst.Call, kind: str) -> bool | None:
    """True if the layer is built with a bias, False if not, None if unknowable."""
    if any(arg.star == "**" for arg in call.args):
        return None
    value = argument(call, _BIAS_POSITION[kind], "bias")
    if value is None:
        return True  # torch's default
    if isinstance(value, cst.Name) and value.value in ("True", "False"):
        return value.value == "True"
    return None


def _without_bias(call: cst.Call, kind: str) -> cst.Call:
    """``call`` with ``bias=False`` (replacing an explicit ``True`` in place)."""
    false = cst.Name("False")
    value = argument(call, _BIAS_POSITION[kind], "bias")
    if value is not None:
        args = [
            arg.with_changes(value=false) if arg.value is value else arg
            for arg in call.args
        ]
        return call.with_changes(args=args)
    args = list(call.args)
    new = cst.Arg(
        keyword=cst.Name("bias"),
        value=false,
        equal=cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""),
            whitespace_after=cst.SimpleWhitespace(""),
        ),
    )
    if not args:
        return call.with_changes(args=[new])
    last = args[-1]
    if isinstance(
        last.comma, cst.Comma
    ):  # trailing comma: keep the one-per-line layout
        separator = args[-2].comma if len(args) >= 2 else cst.Comma()
        if not isinstance(separator, cst.Comma):
            separator = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        args[-1] = last.with_changes(comma=separator)
        new = new.with_changes(comma=last.comma)
    else:
        args[-1] = last.with_changes(
            comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        )
    return call.with_changes(args=[*args, new])


class BiasBeforeBatchNorm(ContainerLinkRule):
    """
    ## What it does
    Flags a `Linear`, `Conv*d` or `ConvTranspose*d` layer built with a bias (the
    default) whose output goes straight into a `BatchNorm*d`/`SyncBatchNorm`:
    adjacent elements of `nn.Sequential(...)`, of a list literal or of an
    `OrderedDict([...])`; a nested call `self.bn(self.conv(x))`; or two consecutive
    statements `h = self.conv(x)` / `h = self.bn(h)` in a method. The finding points
    at the layer's constructor, where the fix goes.

    It stays silent when the bias can matter or the fix could break something: the
    layer (or its output) is also used without the BatchNorm, its `.bias` is used in
    the class, `bias=` is not a literal, or `**kwargs` may carry it. LayerNorm,
    GroupNorm and RMSNorm are not BatchNorm: they normalise across features, so a
    per-feature bias in front of them still changes their output and is kept.

    ## Why is this bad?
    BatchNorm subtracts the per-channel batch mean, so a per-channel constant added
    just before it is removed exactly: the bias never changes the output, its
    gradient is zero, yet it costs memory, optimizer state and weight decay.
    BatchNorm's own `beta` already provides the shift.

    ## Example
    ```python
    from torch import nn

    stem = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU())
    ```

    ## Use instead
    ```python
    from torch import nn

    stem = nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU()
    )
    ```

    ## Fix safety
    The fix adds `bias=False` (or turns `bias=True` into `bias=False`). It is
    unsafe: the model's `state_dict` loses the `*.bias` keys, so loading an existing
    checkpoint with `strict=True` fails, and init code that touches `m.bias`
    unguarded raises. The function computed by a freshly initialised model is
    unchanged.

    ## References
    - Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network Training by
      Reducing Internal Covariate Shift" (2015), section 3.2: the bias of the layer
      before BatchNorm can be ignored, its effect is cancelled by the mean
      subtraction.
    - [torch.nn.BatchNorm2d](https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html)
    """

    CODE = "NNL403"
    NAME = "bias-before-batchnorm"
    MESSAGE = "Bias is redundant: BatchNorm right after this layer subtracts the mean"
    SEVERITY = "warning"
    FIX_TITLE = "Build the layer with `bias=False`"
    FIX_IS_SAFE = False
    NEEDS = Needs(("BatchNorm",), screen=_builds_a_biased_layer)

    VALID = [
        # bias=False already (a downsample projection on the skip path).
        "from torch import nn\n"
        "down = nn.Sequential(nn.Conv2d(64, 128, 1, stride=2, bias=False),"
        " nn.BatchNorm2d(128))\n",
        # GroupNorm / LayerNorm are not BatchNorm: the bias still matters there.
        "import torch.nn as tnn\n"
        "a = tnn.Sequential(tnn.Conv2d(3, 8, 3), tnn.GroupNorm(2, 8))\n"
        "b = tnn.Sequential(tnn.Linear(8, 8), tnn.LayerNorm(8))\n",
        # An activation in between: the bias is no longer a constant shift.
        "from torch import nn\n"
        "head = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.BatchNorm1d(32))\n",
        # The conv output is also used without the BatchNorm.
        "from torch import nn\n"
        "class Block(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(8, 8, 3, padding=1)\n"
        "        self.bn = nn.BatchNorm2d(8)\n"
        "    def forward(self, x):\n"
        "        y = self.conv(x)\n"
        "        z = self.bn(y)\n"
        "        return z + y\n",
        # A user class that merely shares the name is not torch's.
        "class BatchNorm2d:\n"
        "    pass\n"
        "from torch import nn\n"
        "m = nn.Sequential(nn.Conv2d(1, 2, 3), BatchNorm2d())\n",
        # bias decided by a variable: not provable.
        "from torch import nn\n"
        "def make(use_bias):\n"
        "    return nn.Sequential(nn.Linear(4, 4, bias=use_bias), nn.BatchNorm1d(4))\n",
    ]
    INVALID = [
        Invalid(
            "from torch import nn\n"
            "stem = nn.Sequential(nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16))\n",
            line=2,
            column=22,
            fixed="from torch import nn\n"
            "stem = nn.Sequential(nn.Conv2d(3, 16, 3, bias=False),"
            " nn.BatchNorm2d(16))\n",
        ),
        Invalid(
            "import torch\n"
            "class ConvBN(torch.nn.Module):\n"
            "    def __init__(self, c_in, c_out):\n"
            "        super().__init__()\n"
            "        self.conv = torch.nn.Conv2d(c_in, c_out, 3, 1, 1, bias=True)\n"
            "        self.bn = torch.nn.BatchNorm2d(c_out)\n"
            "    def forward(self, x):\n"
            "        return self.bn(self.conv(x))\n",
            line=5,
            column=21,
            fixed="import torch\n"
            "class ConvBN(torch.nn.Module):\n"
            "    def __init__(self, c_in, c_out):\n"
            "        super().__init__()\n"
            "        self.conv = torch.nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False)\n"
            "        self.bn = torch.nn.BatchNorm2d(c_out)\n"
            "    def forward(self, x):\n"
            "        return self.bn(self.conv(x))\n",
        ),
        Invalid(
            "from torch.nn import Linear, BatchNorm1d\n"
            "from torch import nn\n"
            "class Mlp(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.fc = Linear(\n"
            "            32,\n"
            "            64,\n"
            "        )\n"
            "        self.norm = BatchNorm1d(64)\n"
            "    def forward(self, x):\n"
            "        x = self.fc(x)\n"
            "        x = self.norm(x)\n"
            "        return x\n",
            line=6,
            column=19,
            fixed="from torch.nn import Linear, BatchNorm1d\n"
            "from torch import nn\n"
            "class Mlp(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.fc = Linear(\n"
            "            32,\n"
            "            64,\n"
            "            bias=False,\n"
            "        )\n"
            "        self.norm = BatchNorm1d(64)\n"
            "    def forward(self, x):\n"
            "        x = self.fc(x)\n"
            "        x = self.norm(x)\n"
            "        return x\n",
        ),
        Invalid(
            "from collections import OrderedDict\n"
            "from torch import nn\n"
            "layers = []\n"
            "for width in (8, 16):\n"
            "    layers += [nn.ConvTranspose2d(4, width, 2), nn.SyncBatchNorm(width)]\n"
            "net = nn.Sequential(OrderedDict([('fc', nn.Linear(2, 2)),"
            " ('bn', nn.BatchNorm1d(2))]))\n",
            line=5,
            column=16,
        ),
    ]

    def check_container(
        self, node: cst.Call | cst.List, scope: cst.CSTNode | None
    ) -> None:
        for link in container_links(node, self.qualified_name, scope):
            if link.exclusive:
                self._check(link)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        facts = class_model(self.context, node)
        table = facts.table
        by_attr: dict[str, list[Link]] = {}
        for link in facts.links():
            if link.producer_attr is not None and link.exclusive:
                by_attr.setdefault(link.producer_attr, []).append(link)
        for attr, links in by_attr.items():
            pairs = [link for link in links if self._is_pair(link)]
            # Every use must be a call feeding BatchNorm, or the bias matters.
            sole_use = (
                table.loads.get(attr, 0)
                == table.calls.get(attr, 0)
                == len({id(link.producer) for link in pairs})
            )
            if pairs and sole_use and attr not in table.bias_used:
                self._check(pairs[0])

    @staticmethod
    def _is_pair(link: Link) -> bool:
        return link.producer_kind in _BIAS_POSITION and link.consumer_kind in BATCH_NORM

    def _check(self, link: Link) -> None:
        ctor = link.producer_ctor
        if ctor is None or id(ctor) in self.flagged or not self._is_pair(link):
            return
        if _bias_is_on(ctor, link.producer_kind) is not True:
            return
        self.flagged.add(id(ctor))
        message = (
            f"`{_short(link.producer_kind)}` bias is redundant: "
            f"`{_short(link.consumer_kind)}` right after it subtracts the mean"
        )
        self.report(
            ctor, message, replacements={ctor: _without_bias(ctor, link.producer_kind)}
        )
