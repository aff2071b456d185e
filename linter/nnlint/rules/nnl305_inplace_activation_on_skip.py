"""NNL305: an in-place operation modifies a tensor the skip path reads later."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import libcst as cst

from nnlint.analysis.method_syntax import self_attr, self_name
from nnlint.analysis.module_model import ClassModel, Layer, module_class
from nnlint.analysis.walk import iter_children
from nnlint.rules.base import Invalid, Rule
from nnlint.rules.needs import Needs

# Position of the ``inplace`` argument of each in-place-capable torch.nn module.
_INPLACE_INDEX = {
    **dict.fromkeys("ReLU ReLU6 SELU SiLU Mish Hardswish Hardsigmoid".split(), 0),
    **dict.fromkeys(
        "LeakyReLU ELU CELU Dropout Dropout1d Dropout2d Dropout3d".split(), 1
    ),
    **dict.fromkeys("AlphaDropout FeatureAlphaDropout".split(), 1),
    **dict.fromkeys("Hardtanh RReLU Threshold".split(), 2),
}


def inplace_argument(layer: Layer) -> cst.BaseExpression | None:
    """The literal ``True`` making a ``torch.nn`` module in-place, if it is."""
    kind = (layer.kind or "").removeprefix("torch.nn.")
    if (
        layer.kind is None
        or not layer.kind.startswith("torch.nn.")
        or kind not in _INPLACE_INDEX
    ):
        return None
    value = layer.arg(_INPLACE_INDEX[kind], "inplace")
    return value if isinstance(value, cst.Name) and value.value == "True" else None


@dataclass
class _Pending:
    """An in-place op; reading a ``stale`` name still bound to ``tensor`` is the bug."""

    node: cst.CSTNode
    tensor: int
    stale: set[str]
    fix: dict[cst.CSTNode, cst.CSTNode] = field(default_factory=dict)
    reported: bool = False


class _Walker:
    """Follows which names alias which tensor through one ``forward`` (linear pass)."""

    def __init__(
        self, rule: InplaceActivationOnSkip, owner: ClassModel, me: str | None
    ):
        self.rule, self.owner, self.me = rule, owner, me
        self.env: dict[str, int] = {}
        self.tensorish: set[int] = set()
        self.pending: list[_Pending] = []
        self.count = 0
        # A call standing alone as a statement is run for its in-place effect.
        self.statement_call: cst.CSTNode | None = None

    def fresh(self, tensorish: bool) -> int:
        self.count += 1
        if tensorish:
            self.tensorish.add(self.count)
        return self.count

    def statement(self, node: cst.CSTNode) -> None:
        if isinstance(node, cst.SimpleStatementLine):
            for small in node.body:
                self.small(small)
            return
        if isinstance(node, cst.FunctionDef | cst.ClassDef | cst.Lambda):
            return
        if isinstance(node, cst.For):
            self.expr(node.iter)
            self.bind(node.target, None, None)
            self.statement(node.body)
            if node.orelse is not None:
                self.statement(node.orelse)
            return
        for child in iter_children(node):
            if isinstance(child, cst.BaseExpression):
                self.expr(child)
            else:
                self.statement(child)

    def small(self, node: cst.CSTNode) -> None:
        if isinstance(node, cst.Assign | cst.AnnAssign):
            value = node.value
            tensor = self.expr(value) if value is not None else None
            targets = (
                [t.target for t in node.targets]
                if isinstance(node, cst.Assign)
                else [node.target]
            )
            names = {t.value for t in targets if isinstance(t, cst.Name)}
            for pending in self.pending:
                pending.stale -= names
            for target in targets:
                self.bind(target, tensor, value)
        elif isinstance(node, cst.AugAssign):
            self.expr(node.value)
            if isinstance(node.target, cst.Name):
                tensor = self.env.get(node.target.value)
                if tensor is not None and tensor in self.tensorish:
                    self.mutate(node, node.target.value, explicit=True)
        else:
            if isinstance(node, cst.Expr):
                self.statement_call = node.value
            for child in iter_children(node):
                if isinstance(child, cst.BaseExpression):
                    self.expr(child)

    def bind(self, target: cst.CSTNode, tensor: int | None, value: object) -> None:
        if isinstance(target, cst.Name):
            tensorish = isinstance(value, cst.Call) and self.rule.tensor_call(
                value, self.me
            )
            self.env[target.value] = (
                tensor if tensor is not None else self.fresh(tensorish)
            )
        elif isinstance(target, cst.Tuple | cst.List):
            for element in target.elements:
                self.bind(element.value, None, None)

    def expr(self, node: cst.BaseExpression) -> int | None:
        """Walk ``node`` in evaluation order; the tensor it returns if an alias."""
        if isinstance(node, cst.Name):
            self.read(node.value)
            return self.env.get(node.value)
        if isinstance(node, cst.Call):
            return self.call(node)
        if isinstance(node, cst.Lambda):
            return None
        for child in iter_children(node):
            self.visit_children(child)
        return None

    def visit_children(self, node: cst.CSTNode) -> None:
        if isinstance(node, cst.BaseExpression):
            self.expr(node)
        else:
            for child in iter_children(node):
                self.visit_children(child)

    def call(self, node: cst.Call) -> int | None:
        if isinstance(node.func, cst.Attribute):
            self.expr(node.func.value)
        for argument in node.args:
            self.expr(argument.value)
        operand, fix, explicit = self.rule.inplace_operand(node, self.owner, self.me)
        if isinstance(operand, cst.Name):
            explicit = explicit or node is self.statement_call
            self.mutate(node, operand.value, explicit, fix)
            return self.env.get(operand.value)
        return None

    def mutate(
        self, node: cst.CSTNode, name: str, explicit: bool, fix: dict | None = None
    ) -> None:
        tensor = self.env.get(name)
        if tensor is None:
            return
        aliases = {k for k, v in self.env.items() if v == tensor}
        if explicit:
            aliases.discard(name)
        if aliases:
            self.pending.append(_Pending(node, tensor, aliases, fix or {}))

    def read(self, name: str) -> None:
        for pending in self.pending:
            if pending.reported or name not in pending.stale:
                continue
            if self.env.get(name) == pending.tensor:
                pending.reported = True
                self.rule.report_stale(pending, name)


class InplaceActivationOnSkip(Rule):
    """## What it does
    Finds in-place operations in a `forward*` method that modify a tensor which another
    name still refers to and reads afterwards, typically the skip path of a residual
    block:

    ```python
    identity = x             # the same tensor, not a copy
    x = self.relu(x)         # self.relu = nn.ReLU(inplace=True)
    ...
    return x + identity      # identity now holds relu(x)
    ```

    In-place operations are in-place `torch.nn` modules (`nn.ReLU(inplace=True)`,
    `nn.LeakyReLU(0.1, True)`, `nn.Dropout(p, inplace=True)`, a `nn.Sequential` starting
    with one), `F.relu(x, inplace=True)`, `F.relu_(x)`, `torch.relu_(x)`, tensor methods
    ending in `_` (`x.relu_()`) and augmented assignments (`x += y`) on tensors.
    Assignment `identity = x` binds the same tensor; `self.downsample(x)`, `x.clone()`
    or any other operation makes a new one. Reading the operated-on name itself after
    `x.relu_()` or `x += y` is intended and not reported.

    ## Why is this bad?
    The skip path is meant to carry the block input unchanged. After the in-place op it
    carries the modified values, so the block computes `f(x) + relu(x)` instead of
    `f(x) + x`; nothing fails, the model just trains worse. Autograd may also raise
    "one of the variables needed for gradient computation has been modified by an
    inplace operation".

    ## Example
    ```python
    def forward(self, x):
        out = self.relu(x)  # nn.ReLU(inplace=True)
        out = self.conv(out)
        return out + x
    ```

    ## Use instead
    ```python
    def forward(self, x):
        out = self.relu(x)  # nn.ReLU() (not in-place)
        out = self.conv(out)
        return out + x
    ```

    ## Fix safety
    When the operation is in-place through a literal `inplace=True` (in the module's
    constructor or the functional call), the fix sets it to `False`. It is unsafe:
    the module may be shared by other call sites that relied on the in-place update,
    and memory use grows by one activation.

    ## References
    - [In-place correctness checks](https://pytorch.org/docs/stable/notes/autograd.html#in-place-correctness-checks)
    """

    CODE = "NNL305"
    NAME = "inplace-activation-on-skip"
    MESSAGE = "an in-place operation modifies a tensor that the skip path reads later"
    SEVERITY = "error"
    FIX_TITLE = "Make the operation out-of-place (inplace=False)"
    FIX_IS_SAFE = False
    # Only forward* methods are checked; an in-place op there is a literal ``True``
    # passed as an argument (``inplace=True``, ``LeakyReLU(0.2, True)``), a call of a
    # name ending in ``_`` (``x.relu_()``, ``F.relu_(x)``) or an augmented assignment.
    NEEDS = Needs(
        ("forward",),
        scope="modules",
        pattern=re.compile(
            r"(?:inplace(?:[\s\\]|#[^\n]*+)*+=|[(,])(?:[\s(\\]|#[^\n]*+)*+True(?!\w)"
            r"|(?<!\w)[^\W\d_]\w*_(?:[\s)\\]|#[^\n]*+)*+\("
            r"|(?:[-+*/%@&|^]|>>|<<)="
        ),
    )
    VALID = [
        # torchvision's BasicBlock: the in-place ReLUs act on fresh conv outputs.
        "import torch.nn as nn\n"
        "class BasicBlock(nn.Module):\n"
        "    def __init__(self, c):\n"
        "        super().__init__()\n"
        "        self.conv1 = nn.Conv2d(c, c, 3, padding=1)\n"
        "        self.conv2 = nn.Conv2d(c, c, 3, padding=1)\n"
        "        self.relu = nn.ReLU(inplace=True)\n"
        "        self.downsample = None\n"
        "    def forward(self, x):\n"
        "        identity = x\n"
        "        out = self.conv1(x)\n"
        "        out = self.relu(out)\n"
        "        out = self.conv2(out)\n"
        "        if self.downsample is not None:\n"
        "            identity = self.downsample(x)\n"
        "        out += identity\n"
        "        out = self.relu(out)\n"
        "        return out\n",
        # A copy on the skip path; an out-of-place activation.
        "import torch.nn as nn\n"
        "class PreAct(nn.Module):\n"
        "    def __init__(self, c):\n"
        "        super().__init__()\n"
        "        self.act = nn.ReLU(inplace=True)\n"
        "        self.act2 = nn.ReLU()\n"
        "        self.conv = nn.Conv2d(c, c, 3, padding=1)\n"
        "    def forward(self, x):\n"
        "        shortcut = x.clone()\n"
        "        x = self.act(x)\n"
        "        y = self.act2(shortcut)\n"
        "        return self.conv(x) + shortcut + y\n",
        # The name operated on is read again on purpose; no alias survives.
        "import torch.nn.functional as F\n"
        "from torch import nn\n"
        "class Gate(nn.Module):\n"
        "    def forward(self, x):\n"
        "        h = self.proj(x)\n"
        "        h.sigmoid_()\n"
        "        F.relu(x, inplace=True)\n"
        "        return x * h\n",
        # Integers, not tensors.
        "from torch import nn\n"
        "class Cache(nn.Module):\n"
        "    def forward(self, x, start):\n"
        "        offset = len(x)\n"
        "        first = offset\n"
        "        offset += 1\n"
        "        return x[first:offset]\n",
    ]
    INVALID = [
        Invalid(
            "import torch.nn as nn\n"
            "class PreActBlock(nn.Module):\n"
            "    def __init__(self, c):\n"
            "        super().__init__()\n"
            "        self.relu = nn.ReLU(inplace=True)\n"
            "        self.conv = nn.Conv2d(c, c, 3, padding=1)\n"
            "    def forward(self, x):\n"
            "        identity = x\n"
            "        x = self.relu(x)\n"
            "        x = self.conv(x)\n"
            "        return x + identity\n",
            line=9,
            column=13,
            fixed="import torch.nn as nn\n"
            "class PreActBlock(nn.Module):\n"
            "    def __init__(self, c):\n"
            "        super().__init__()\n"
            "        self.relu = nn.ReLU(inplace=False)\n"
            "        self.conv = nn.Conv2d(c, c, 3, padding=1)\n"
            "    def forward(self, x):\n"
            "        identity = x\n"
            "        x = self.relu(x)\n"
            "        x = self.conv(x)\n"
            "        return x + identity\n",
        ),
        Invalid(
            "import torch.nn.functional as F\n"
            "from torch import nn\n"
            "class Res(nn.Module):\n"
            "    def forward(self, x):\n"
            "        out = F.relu(x, inplace=True)\n"
            "        out = self.fc(out)\n"
            "        return out + x\n",
            line=5,
            column=15,
            fixed="import torch.nn.functional as F\n"
            "from torch import nn\n"
            "class Res(nn.Module):\n"
            "    def forward(self, x):\n"
            "        out = F.relu(x, inplace=False)\n"
            "        out = self.fc(out)\n"
            "        return out + x\n",
        ),
        Invalid(
            "from torch import nn\n"
            "class Res(nn.Module):\n"
            "    def forward(self, hidden):\n"
            "        skip = hidden\n"
            "        hidden.mul_(self.scale)\n"
            "        return self.mlp(hidden) + skip\n",
            line=5,
            column=9,
        ),
        Invalid(
            "import torch.nn as tnn\n"
            "class Res(tnn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.pre = tnn.Sequential(tnn.LeakyReLU(0.2, True), tnn.ReLU())\n"
            "    def forward(self, feats):\n"
            "        branch = self.pre(feats)\n"
            "        return branch + feats\n",
            line=7,
            column=18,
            fixed="import torch.nn as tnn\n"
            "class Res(tnn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.pre = tnn.Sequential(tnn.LeakyReLU(0.2, False), tnn.ReLU())\n"
            "    def forward(self, feats):\n"
            "        branch = self.pre(feats)\n"
            "        return branch + feats\n",
        ),
        Invalid(
            "import torch\n"
            "from torch import nn\n"
            "class Res(nn.Module):\n"
            "    def forward(self, x):\n"
            "        residual = x\n"
            "        x += self.attn(x)\n"
            "        return torch.cat([x, residual], dim=-1)\n",
            line=6,
            column=9,
        ),
    ]

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        owner = module_class(self, node)
        if owner is None:
            return
        for function in owner.forward_methods():
            walker = _Walker(self, owner, self_name(function))
            for param in function.params.params[1:]:
                walker.env[param.name.value] = walker.fresh(tensorish=True)
            walker.statement(function.body)

    def inplace_operand(
        self, call: cst.Call, owner: ClassModel, me: str | None
    ) -> tuple[cst.BaseExpression | None, dict[cst.CSTNode, cst.CSTNode], bool]:
        """The tensor ``call`` modifies in place, a fix making it out-of-place, and
        whether the call says so itself (a name ending in ``_``)."""
        first = (
            call.args[0].value if call.args and call.args[0].keyword is None else None
        )
        attr = self_attr(call.func, me)
        if attr is not None:
            layer = owner.layer(attr)
            if layer is not None and layer.elements:
                layer = layer.elements[0]
            flag = inplace_argument(layer) if layer is not None else None
            if flag is None:
                return None, {}, False
            return first, {flag: cst.Name("False")}, False
        qualified = self.qualified_name(call.func) or ""
        if qualified.startswith(
            ("torch.nn.functional.", "torch.")
        ) and not qualified.startswith("torch.nn.init."):
            for argument in call.args:
                value = argument.value
                if argument.keyword is not None and argument.keyword.value == "inplace":
                    if isinstance(value, cst.Name) and value.value == "True":
                        return first, {value: cst.Name("False")}, False
            name = qualified.rpartition(".")[2]
            if name.endswith("_") and not name.startswith("_"):
                return first, {}, True
            return None, {}, False
        func = call.func
        if isinstance(func, cst.Attribute) and not qualified:
            method = func.attr.value
            if method.endswith("_") and not method.startswith("_"):
                return func.value, {}, True
        return None, {}, False

    def tensor_call(self, call: cst.Call, me: str | None) -> bool:
        """A call that returns a tensor: a submodule or a ``torch`` function."""
        qualified = self.qualified_name(call.func) or ""
        return self_attr(call.func, me) is not None or qualified.startswith("torch.")

    def report_stale(self, pending: _Pending, alias: str) -> None:
        message = (
            f"in-place operation modifies the tensor `{alias}` still refers to; "
            f"`{alias}` is read afterwards and sees the modified values"
        )
        self.report(pending.node, message, replacements=pending.fix or None)
