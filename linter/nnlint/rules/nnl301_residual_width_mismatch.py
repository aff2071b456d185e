"""NNL301: a residual add whose two sides have different widths or resolutions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import libcst as cst

from nnlint.analysis.forward_records import Add
from nnlint.analysis.layer_kinds import PASSTHROUGH
from nnlint.analysis.module_model import (
    ClassModel,
    Layer,
    file_model,
    module_class,
    name_calls,
)
from nnlint.analysis.walk import walk
from nnlint.rules.base import Invalid, Rule
from nnlint.rules.needs import Needs, construction_calls
from nnlint.rules.nnl301_screen import may_add_a_residual
from nnlint.rules.screens import any_class

_CONV = {f"torch.nn.Conv{d}d" for d in (1, 2, 3)}
_CONV_T = {f"torch.nn.ConvTranspose{d}d" for d in (1, 2, 3)}
_POOL = {f"torch.nn.{kind}Pool{d}d" for kind in ("Max", "Avg") for d in (1, 2, 3)}
_SIZED = _CONV | _CONV_T | _POOL | {"torch.nn.Linear"}


@dataclass
class _Shape:
    """What a chain of layers does: the width it expects and produces (constructor
    argument expressions) and whether it changes the spatial size."""

    width_in: cst.BaseExpression | None = None
    width_out: cst.BaseExpression | None = None
    spatial: str = "same"  # "same", "down", "up" or "unknown"

    def resize(self, effect: str) -> None:
        if effect == "same" or self.spatial == effect:
            return
        self.spatial = effect if self.spatial == "same" else "unknown"


def _ints(expr: cst.BaseExpression | None) -> tuple[int, ...] | None:
    if isinstance(expr, cst.Integer):
        return (int(expr.value, 0),)
    if isinstance(expr, cst.Tuple):
        values = [_ints(e.value) for e in expr.elements]
        if all(v is not None and len(v) == 1 for v in values):
            return tuple(v[0] for v in values if v)
    return None


def _conv_effect(layer: Layer) -> str:
    stride = _ints(layer.arg(3, "stride")) or (1,)
    if layer.arg(3, "stride") is not None and _ints(layer.arg(3, "stride")) is None:
        return "unknown"
    if any(s > 1 for s in stride):
        return "up" if layer.kind in _CONV_T else "down"
    padding_expr = layer.arg(4, "padding")
    if isinstance(padding_expr, cst.SimpleString) and "same" in padding_expr.value:
        return "same"
    kernel = _ints(layer.arg(2, "kernel_size"))
    padding = _ints(padding_expr) if padding_expr is not None else (0,)
    dilation = _ints(layer.arg(5, "dilation")) if layer.arg(5, "dilation") else (1,)
    if kernel is None or padding is None or dilation is None or layer.kind in _CONV_T:
        return "unknown"
    preserved = all(
        (k - 1) * d == 2 * p
        for k, p, d in zip(
            kernel, padding * len(kernel), dilation * len(kernel), strict=False
        )
    )
    return "same" if preserved else "down"


def _pool_effect(layer: Layer) -> str:
    stride_expr = layer.arg(1, "stride") or layer.arg(0, "kernel_size")
    stride = _ints(stride_expr)
    if stride is None:
        return "unknown"
    return "down" if any(s > 1 for s in stride) else "same"


def _apply(shape: _Shape, layer: Layer) -> bool:
    """Push ``layer`` through ``shape``; False if its effect cannot be known."""
    kind = layer.kind
    if layer.elements is not None:
        return all(_apply(shape, element) for element in layer.elements)
    if kind in PASSTHROUGH:
        return True
    if kind == "torch.nn.Linear":
        width_in, width_out = layer.arg(0, "in_features"), layer.arg(1, "out_features")
    elif kind in _CONV | _CONV_T:
        width_in, width_out = layer.arg(0, "in_channels"), layer.arg(1, "out_channels")
        shape.resize(_conv_effect(layer))
    elif kind in _POOL:
        shape.resize(_pool_effect(layer))
        return True
    else:
        return False
    if width_in is None or width_out is None:
        return False
    shape.width_in = shape.width_in or width_in
    shape.width_out = width_out
    return True


def _shape(steps: tuple[str, ...], owner: ClassModel) -> _Shape | None:
    shape = _Shape()
    for step in steps:
        layer = owner.layer(step)
        if layer is None or not _apply(shape, layer):
            return None
    return shape


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
            layer.kind in _SIZED or layer.elements
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
        first, second = _shape(skip.steps, owner), _shape(branch.steps, owner)
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
        proof = _different(left, right, owner, lambda: self._calls(owner))
        if proof is None:
            return None
        code = cst.Module([]).code_for_node
        return (
            f"residual add of a `{code(left)}`-wide and a `{code(right)}`-wide"
            f" tensor (constructor arguments): {proof}"
        )

    def _calls(self, owner: ClassModel) -> list[cst.Call]:
        """Calls of ``owner`` by its bare name anywhere in this file (none when the
        file defines two classes of that name: the call could be to either)."""
        name = owner.node.name.value
        classes = self.context.get(file_model).classes.values()
        if sum(model.node.name.value == name for model in classes) != 1:
            return []
        return self.context.get(name_calls).get(name, [])


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
    names = _parameters(left, owner) | _parameters(right, owner)
    if source_of(left) == source_of(right) or not names:
        return None
    if not names <= set(owner.init_params):
        return None
    init = owner.methods["__init__"]
    if _related(init, names):
        return None
    constants = _class_constants(owner.node)
    name = owner.node.name.value
    sites: list[cst.Call | None] = list(calls())
    # A class the file never builds: its defaults are the construction it shows.
    bindings = [(call, _bound(init, call)) for call in sites or [None]]
    for call, bound in bindings:
        if bound is None:
            continue
        values = _evaluate(left, bound, constants), _evaluate(right, bound, constants)
        if None in values or values[0] == values[1]:
            continue
        given = ", ".join(f"{n}={bound[n]}" for n in sorted(names))
        how = "builds" if call is not None else "can build (its defaults)"
        return f"this file {how} `{name}` with {given}: {values[0]} vs {values[1]}"
    return None


def source_of(node: cst.BaseExpression) -> str:
    return cst.Module([]).code_for_node(node)


def _parameters(expr: cst.BaseExpression, owner: ClassModel) -> set[str]:
    """The ``__init__`` parameters a width expression reads."""
    return {
        n.value
        for n in walk(expr)
        if isinstance(n, cst.Name) and n.value in owner.init_params
    }


def _class_constants(node: cst.ClassDef) -> dict[str, int]:
    """Integer class attributes (``expansion = 4``), read as ``self.expansion``."""
    found: dict[str, int] = {}
    for statement in node.body.body:
        small = (
            statement.body[0]
            if isinstance(statement, cst.SimpleStatementLine)
            else None
        )
        if isinstance(small, cst.Assign) and len(small.targets) == 1:
            target = small.targets[0].target
            if isinstance(target, cst.Name) and isinstance(small.value, cst.Integer):
                found[target.value] = int(small.value.value, 0)
    return found


def _evaluate(
    expr: cst.BaseExpression, bound: dict[str, int], constants: dict[str, int]
) -> int | None:
    """The integer a width expression takes under ``bound`` parameter values:
    literals, parameters, class constants and ``+ - * //`` between them."""
    if isinstance(expr, cst.Integer):
        return int(expr.value, 0)
    if isinstance(expr, cst.Name):
        return bound.get(expr.value)
    if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name):
        return constants.get(expr.attr.value)  # ``self.expansion``, ``Cls.expansion``
    if isinstance(expr, cst.BinaryOperation):
        a = _evaluate(expr.left, bound, constants)
        b = _evaluate(expr.right, bound, constants)
        if a is None or b is None:
            return None
        op = expr.operator
        if isinstance(op, cst.Add):
            return a + b
        if isinstance(op, cst.Subtract):
            return a - b
        if isinstance(op, cst.Multiply):
            return a * b
        if isinstance(op, cst.FloorDivide) and b:
            return a // b
    return None


def _related(init: cst.FunctionDef, names: set[str]) -> bool:
    """True when ``__init__`` compares the two widths or rebinds either of them."""
    for node in walk(init):
        if isinstance(node, cst.Comparison | cst.AssignTarget | cst.AugAssign):
            mentioned = {n.value for n in walk(node) if isinstance(n, cst.Name)}
            if isinstance(node, cst.Comparison) and names <= mentioned:
                return True  # the author relates the two widths
            if not isinstance(node, cst.Comparison) and names & mentioned:
                return True  # rebound, e.g. ``d_out = d_out or d_in``
    return False


def _bound(init: cst.FunctionDef, call: cst.Call | None) -> dict[str, int] | None:
    """The integer literals ``call`` binds to ``__init__``'s parameters (passed, or
    defaulted when omitted; ``call`` None: the defaults alone). Parameters bound to
    anything else are left out; None when the binding cannot be followed."""
    if init.params.posonly_params:
        return None  # ``self`` sits there; binding would need the full protocol
    params = init.params.params[1:]
    given: dict[str, cst.BaseExpression | None] = {
        p.name.value: p.default for p in (*params, *init.params.kwonly_params)
    }
    position = 0
    for argument in call.args if call is not None else ():
        if argument.star:
            return None  # ``*widths`` / ``**cfg`` could bind any parameter
        if argument.keyword is not None:
            given[argument.keyword.value] = argument.value
        elif position < len(params):
            given[params[position].name.value] = argument.value
            position += 1
        else:
            return None
    return {
        name: int(value.value, 0)
        for name, value in given.items()
        if isinstance(value, cst.Integer)
    }
