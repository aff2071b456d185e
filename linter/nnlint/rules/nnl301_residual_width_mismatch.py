"""NNL301: a residual add whose two sides have different widths or resolutions."""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

from nnlint.analysis.constructions import (
    bound,
    class_calls,
    class_constants,
    evaluate,
    init_parameters,
    related,
)
from nnlint.analysis.cst_syntax import same_expression
from nnlint.analysis.forward_records import Add
from nnlint.analysis.layer_shapes import SIZED, chain_shape
from nnlint.analysis.module_model import ClassModel, module_class
from nnlint.rules.base import Invalid, Rule
from nnlint.rules.needs import Needs, construction_calls
from nnlint.rules.nnl301_screen import may_add_a_residual
from nnlint.rules.screens import any_class


class ResidualWidthMismatch(Rule):
    """## What it does
    Finds residual additions in `forward` whose two operands come from the same tensor
    through different layer chains that provably change its width or resolution,
    judged from the layers' constructor arguments in `__init__`:

    - `self.fc = nn.Linear(32, 64)` and `x + self.fc(x)`: the branch is 64 wide, the
      skip 32 wide;
    - `nn.Conv2d(c, c, 3, stride=2, padding=1)` on the branch, the un-strided input on
      the skip; a `3x3` convolution without padding also shrinks the branch.

    Two widths are reported as different only with proof:

    - both are integer literals and differ; or
    - they are two distinct parameters of `__init__` (say `d_in` and `d_out`) that
      `__init__` neither reassigns nor compares, **and** the same file calls the
      class by its name (`Block(32, 64)`, `Block(d_in=32, d_out=64)`, or
      `Block(32)` with `d_out=64` as the default) so that both parameters get
      integer literals (passed positionally or by keyword, or the parameter's
      default literal when omitted) and the two literals differ.

    Widths may also be expressions of those parameters and of integer class
    constants (`planes * self.expansion`); they are evaluated under each call's
    literals, or under the parameters' integer defaults when the file never builds
    the class by name (the defaults are then the only construction it shows).

    A class whose callers all pass equal widths (`Block(c, c)`, `Block(64, 64)`), or
    pass anything but literals, or that this file never builds, is not reported:
    the code may well only ever be used with equal widths. Only calls by the bare
    class name count (not `blocks.Block(...)`, nor any call when the file defines
    two classes of that name); calls with `*args` or `**kwargs` prove nothing.
    Anything else the rule cannot follow (helper
    functions, custom blocks, `if`-guarded adds, a projection such as
    `identity = self.downsample(x)` it cannot size) is not reported either.

    ## Why is this bad?
    The addition only works when the constructor is called with the two widths equal
    (or when broadcasting hides the mismatch): the model breaks, or silently computes
    something else, for other configurations.

    ## Example
    ```python
    class Block(nn.Module):
        def __init__(self, d_in, d_out):
            super().__init__()
            self.fc = nn.Linear(d_in, d_out)

        def forward(self, x):
            return x + self.fc(x)

    head = Block(32, 64)  # d_in=32, d_out=64: the add fails
    ```

    ## Use instead
    ```python
    class Block(nn.Module):
        def __init__(self, d_in, d_out):
            super().__init__()
            self.fc = nn.Linear(d_in, d_out)
            self.proj = nn.Linear(d_in, d_out) if d_in != d_out else nn.Identity()

        def forward(self, x):
            return self.proj(x) + self.fc(x)

    head = Block(32, 64)
    ```

    ## Fix safety
    There is no automatic fix: the projection to add is a design decision.

    ## References
    - [He et al., Deep Residual Learning (projection shortcuts)](https://arxiv.org/abs/1512.03385)
    """

    CODE = "NNL301"
    NAME = "residual-width-mismatch"
    MESSAGE = "the two sides of this residual add have different shapes"
    SEVERITY = "error"
    # Two parameter widths are compared only with proof from a call of the class.
    NEEDS = Needs(
        ("Linear", "Conv", "Pool"),
        scope="modules",
        evidence=construction_calls,
        screen=lambda statement: any_class(statement, may_add_a_residual),
    )
    VALID = [
        # A downsample projection on the skip matches the strided, widened branch.
        "import torch.nn as nn\n"
        "class Down(nn.Module):\n"
        "    def __init__(self, c_in, c_out):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)\n"
        "        self.bn = nn.BatchNorm2d(c_out)\n"
        "        self.downsample = nn.Sequential(\n"
        "            nn.Conv2d(c_in, c_out, 1, stride=2), nn.BatchNorm2d(c_out)\n"
        "        )\n"
        "    def forward(self, x):\n"
        "        identity = self.downsample(x)\n"
        "        out = self.bn(self.conv(x))\n"
        "        return out + identity\n",
        # Same name on both sides; padding keeps the resolution.
        "from torch import nn\n"
        "class Block(nn.Module):\n"
        "    def __init__(self, dim):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(dim, dim)\n"
        "        self.conv = nn.Conv1d(dim, dim, 3, padding=1)\n"
        "    def forward(self, x):\n"
        "        x = x + self.fc(x)\n"
        "        return x + self.conv(x)\n",
        # The add only runs when the widths agree.
        "from torch import nn\n"
        "class InvertedResidual(nn.Module):\n"
        "    def __init__(self, inp, oup, stride):\n"
        "        super().__init__()\n"
        "        self.use_res = stride == 1 and inp == oup\n"
        "        self.conv = nn.Conv2d(inp, oup, 3, stride, 1)\n"
        "    def forward(self, x):\n"
        "        if self.use_res:\n"
        "            return x + self.conv(x)\n"
        "        return self.conv(x)\n",
        # Widths tied in __init__, or layers the rule cannot size.
        "from torch import nn\n"
        "class Mlp(nn.Module):\n"
        "    def __init__(self, in_features, out_features=None):\n"
        "        super().__init__()\n"
        "        out_features = out_features or in_features\n"
        "        self.fc = nn.Linear(in_features, out_features)\n"
        "        self.conv = conv3x3(in_features, out_features)\n"
        "    def forward(self, x):\n"
        "        return x + self.fc(x) + self.conv(x)\n",
        # Widths are two parameters, but every call in the file passes equal values
        # (transformers' xcodec residual unit); a default of None proves nothing.
        "from torch import nn\n"
        "class ResidualUnit(nn.Module):\n"
        "    def __init__(self, config, in_channels, out_channels, dilation=1):\n"
        "        super().__init__()\n"
        "        self.conv1 = nn.Conv1d(in_channels, out_channels, 7, padding=3)\n"
        "        self.conv2 = nn.Conv1d(out_channels, out_channels, 1)\n"
        "    def forward(self, x):\n"
        "        return x + self.conv2(self.conv1(x))\n"
        "class EncoderBlock(nn.Module):\n"
        "    def __init__(self, config, in_channels, out_channels):\n"
        "        super().__init__()\n"
        "        self.units = nn.ModuleList(\n"
        "            [ResidualUnit(config, in_channels, in_channels, d) for d in ds]\n"
        "        )\n"
        "        self.last = ResidualUnit(config, 64, out_channels=64)\n"
        "        self.free = ResidualUnit(config, *config.widths)\n",
        # The class is never built in this file: nothing proves the widths differ.
        "import torch.nn as nn\n"
        "class Block(nn.Module):\n"
        "    def __init__(self, d_in, d_out=None):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(d_in, d_out)\n"
        "    def forward(self, x):\n"
        "        return x + self.fc(x)\n"
        "blocks = [Block(32, d) for d in dims] + [Block(16)]\n",
        # Arithmetic on the widths: 32 * 2 == 64, so the add is fine.
        "from torch import nn\n"
        "class Up(nn.Module):\n"
        "    def __init__(self, c_in, mid):\n"
        "        super().__init__()\n"
        "        self.a = nn.Conv2d(c_in, mid, 1)\n"
        "        self.b = nn.Conv2d(mid, mid * 2, 1)\n"
        "    def forward(self, x):\n"
        "        return x + self.b(self.a(x))\n"
        "up = Up(64, 32)\n",
    ]
    INVALID = [
        Invalid(
            "import torch.nn as nn\n"
            "class Block(nn.Module):\n"
            "    def __init__(self, d_in, d_out):\n"
            "        super().__init__()\n"
            "        self.fc = nn.Linear(d_in, d_out)\n"
            "    def forward(self, x):\n"
            "        return x + self.fc(x)\n"
            "head = Block(32, 64)\n",
            line=7,
            column=16,
        ),
        Invalid(
            "from torch import nn\n"
            "class Block(nn.Module):\n"
            "    def __init__(self, c):\n"
            "        super().__init__()\n"
            "        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=1)\n"
            "        self.act = nn.ReLU()\n"
            "    def forward(self, x):\n"
            "        out = self.act(self.conv(x))\n"
            "        return out + x\n",
            line=9,
            column=16,
        ),
        Invalid(
            "from torch.nn import BatchNorm2d, Conv2d, Module\n"
            "class Bottleneck(Module):\n"
            "    def __init__(self, in_ch, mid, out_ch):\n"
            "        super().__init__()\n"
            "        self.conv1 = Conv2d(in_ch, mid, 1)\n"
            "        self.bn1 = BatchNorm2d(mid)\n"
            "        self.conv2 = Conv2d(mid, out_ch, kernel_size=1)\n"
            "    def forward(self, x):\n"
            "        identity = x\n"
            "        out = self.bn1(self.conv1(x))\n"
            "        out = self.conv2(out)\n"
            "        out += identity\n"
            "        return out\n"
            "class Stage(Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.block = Bottleneck(in_ch=256, mid=64, out_ch=512)\n",
            line=12,
            column=9,
        ),
        Invalid(
            "import torch.nn as tnn\n"
            "class Head(tnn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.mlp = tnn.Sequential(\n"
            "            tnn.Linear(128, 256), tnn.GELU(), tnn.Linear(256, 512)\n"
            "        )\n"
            "    def forward(self, feats):\n"
            "        return self.mlp(feats) + feats\n",
            line=9,
            column=16,
        ),
        Invalid(
            "from torch import nn\n"
            "class Smooth(nn.Module):\n"
            "    def __init__(self, c):\n"
            "        super().__init__()\n"
            "        self.conv = nn.Conv2d(c, c, kernel_size=3)\n"
            "    def forward(self, x):\n"
            "        return x + self.conv(x)\n",
            line=7,
            column=16,
        ),
        # One call with unequal literal widths is proof enough: here the omitted
        # ``out_channels`` takes its default 64 while ``in_channels`` is 32.
        Invalid(
            "from torch import nn\n"
            "class ResidualUnit(nn.Module):\n"
            "    def __init__(self, in_channels, out_channels=64, dilation=1):\n"
            "        super().__init__()\n"
            "        self.conv = nn.Conv1d(in_channels, out_channels, 1)\n"
            "    def forward(self, x):\n"
            "        return x + self.conv(x)\n"
            "units = [ResidualUnit(64), ResidualUnit(32, dilation=3)]\n",
            line=7,
            column=16,
        ),
        # ``planes * expansion`` against ``inplanes``: with its defaults (the only
        # construction this file shows) the branch is 256 wide and the skip 64.
        Invalid(
            "from torch import nn\n"
            "class Bottleneck(nn.Module):\n"
            "    expansion = 4\n"
            "    def __init__(self, inplanes=64, planes=64):\n"
            "        super().__init__()\n"
            "        self.conv1 = nn.Conv2d(inplanes, planes, 1)\n"
            "        self.conv2 = nn.Conv2d(planes, planes * self.expansion, 1)\n"
            "    def forward(self, x):\n"
            "        return x + self.conv2(self.conv1(x))\n",
            line=9,
            column=16,
        ),
        Invalid(  # the branch is a helper method: its chain is followed
            "from torch import nn\n"
            "class Mixer(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.up = nn.Linear(96, 384)\n"
            "        self.down = nn.Linear(384, 192)\n"
            "    def _mlp(self, tokens):\n"
            "        return self.down(self.up(tokens))\n"
            "    def forward(self, tokens):\n"
            "        return tokens + self._mlp(tokens)\n",
            line=10,
            column=16,
        ),
    ]

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        owner = module_class(self.context, node)
        if owner is None or not any(
            layer.kind in SIZED or layer.elements
            for layers in owner.layers.values()
            for layer in layers
        ):
            return  # nothing whose width or stride the rule could read
        for function in owner.forward_methods():
            for add in owner.flow(function).adds:
                if not add.guarded:
                    self._check(add, owner)

    def _check(self, add: Add, owner: ClassModel) -> None:
        skip, branch = add.flows
        if skip is None or branch is None or skip.root != branch.root:
            return
        first = chain_shape(skip.steps, owner)
        second = chain_shape(branch.steps, owner)
        if first is None or second is None:
            return
        width_in = first.width_in or second.width_in
        left, right = first.width_out or width_in, second.width_out or width_in
        message = self._width_message(left, right, owner)
        if message is not None:
            self.report(add.node, message)
        elif {first.spatial, second.spatial} in (
            {"same", "down"},
            {"same", "up"},
        ):
            self.report(
                add.node,
                "residual add of a strided (resized) branch and an un-resized skip: "
                "project the skip (e.g. a strided 1x1 conv) or drop the stride",
            )

    def _width_message(
        self,
        left: cst.BaseExpression | None,
        right: cst.BaseExpression | None,
        owner: ClassModel,
    ) -> str | None:
        """The finding for two provably different widths, else None."""
        if left is None or right is None:
            return None
        proof = _different(left, right, owner, lambda: class_calls(self.context, owner))
        if proof is None:
            return None
        code = cst.Module([]).code_for_node
        return (
            f"residual add of a `{code(left)}`-wide and a `{code(right)}`-wide"
            f" tensor (constructor arguments): {proof}"
        )


def _different(
    left: cst.BaseExpression,
    right: cst.BaseExpression,
    owner: ClassModel,
    calls: Callable[[], list[cst.Call]],
) -> str | None:
    """Why the two widths provably differ, or None without proof (``calls`` lists
    the file's calls of the class, only looked up for two parameter widths)."""
    if isinstance(left, cst.Integer) and isinstance(right, cst.Integer):
        differ = int(left.value, 0) != int(right.value, 0)
        return "they differ unless equal" if differ else None
    names = init_parameters(left, owner) | init_parameters(right, owner)
    if same_expression(left, right) or not names:
        return None
    # ``names`` are parameters of ``__init__``, so the class has one.
    if related(owner.methods["__init__"], names):
        return None
    return _built_apart(left, right, owner, names, calls())


def _built_apart(
    left: cst.BaseExpression,
    right: cst.BaseExpression,
    owner: ClassModel,
    names: set[str],
    sites: list[cst.Call],
) -> str | None:
    """The first construction in ``sites`` under which the two widths take two
    different integers, said as a proof; a class the file never builds is judged
    under its defaults (the construction it shows)."""
    init = owner.methods["__init__"]
    constants = class_constants(owner.node)
    name = owner.node.name.value
    candidates: list[cst.Call | None] = [*sites] or [None]
    for call in candidates:
        given = bound(init, call)
        if given is None:
            continue
        values = evaluate(left, given, constants), evaluate(right, given, constants)
        if None in values or values[0] == values[1]:
            continue
        shown = ", ".join(f"{n}={given[n]}" for n in sorted(names))
        how = "builds" if call is not None else "can build (its defaults)"
        return f"this file {how} `{name}` with {shown}: {values[0]} vs {values[1]}"
    return None
