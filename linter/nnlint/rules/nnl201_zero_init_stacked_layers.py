"""NNL201: zero or constant initialisation of a hidden layer's weight."""

from __future__ import annotations

import re
from collections.abc import Iterator

import libcst as cst

from nnlint.module_model import (
    MIXING,
    PASSTHROUGH,
    ClassModel,
    Flow,
    file_model,
    self_attr,
    self_name,
)
from nnlint.rules.base import Invalid, Rule, RuleContext
from nnlint.walk import walk

_CONSTANT_INITS = frozenset(
    f"torch.nn.init.{n}" for n in ("zeros_", "ones_", "constant_")
)
_CONSTANT_TENSORS = frozenset(
    f"torch.{n}"
    for n in ("zeros", "ones", "full", "zeros_like", "ones_like", "full_like")
)
_CONSTANT_METHODS = frozenset({"zero_", "fill_"})
_CONSTANT_SPELLINGS = _CONSTANT_METHODS | {
    q.rpartition(".")[2] for q in _CONSTANT_INITS | _CONSTANT_TENSORS
}
_PARAMETER = "torch.nn.Parameter"
# Whatever Python allows between two tokens: spaces, newlines, continuations, comments.
_GAP = r"(?:[\s\\]|#[^\n]*+)*+"
_APPLIED = re.compile(rf"(?<!\w)apply{_GAP}\({_GAP}(\w+)")


def _applied_functions(hit: str) -> re.Pattern[str]:
    """The definitions of the functions that ``hit`` passes to ``.apply(...)``."""
    names = "|".join(sorted(set(_APPLIED.findall(hit)))) or "(?!)"
    return re.compile(rf"^[ \t]*(?:async[ \t]+)?def[ \t]+(?:{names})(?!\w)", re.M)


# (attribute, index into a Sequential or None): one layer of a class.
Ref = tuple[str, int | None]


class ZeroInitStackedLayers(Rule):
    """## What it does
    Finds zero or constant initialisation of the weight of a *hidden* layer:
    `nn.init.zeros_/ones_/constant_(w)`, `w.data.zero_()`, `w.fill_(c)`,
    `layer.weight = nn.Parameter(torch.zeros(...))`, or a raw weight
    `self.w = nn.Parameter(torch.zeros(...))` used as `x @ self.w` or
    `F.linear(x, self.w)`.

    A layer is *hidden* when its output feeds another feature-mixing layer (`Linear`,
    `Conv*d`, `ConvTranspose*d`, or a raw weight) of the same class through nothing but
    activations, normalisation, dropout and reshapes: the next element of the same
    `nn.Sequential`, or the next submodule applied to its output in `forward`. An
    output that is *added* to another tensor (a residual or adapter branch, LoRA's
    `B`, DiT's adaLN-Zero modulation) or leaves the class (the classifier head) is not
    hidden, and neither are the weights of normalisation layers (torchvision's
    `zero_init_residual`) or biases. Layers that are merely consecutive in `__init__`
    are not assumed to be stacked: parallel heads are often declared one after another.

    A constant init guarded only by `isinstance(m, nn.Linear)` (or other mixing types)
    in a `for m in self.modules()` loop or a function given to `self.apply(...)` sets
    every such layer of the class; it is reported when one of them is hidden.

    ## Why is this bad?
    A constant weight gives every unit of the layer the same output and the same
    gradient, so the units stay identical (the symmetry is never broken). A zero weight
    also gives the layer below a zero gradient, and with a ReLU after it a zero
    gradient for itself: two stacked zero-initialised layers never train at all.

    ## Example
    ```python
    self.fc1 = nn.Linear(784, 256)
    self.fc2 = nn.Linear(256, 10)
    nn.init.zeros_(self.fc1.weight)
    ```

    ## Use instead
    ```python
    self.fc1 = nn.Linear(784, 256)  # keep the default (Kaiming-uniform) init
    self.fc2 = nn.Linear(256, 10)
    nn.init.zeros_(self.fc2.weight)  # zero-init of the output layer only is fine
    ```

    ## Fix safety
    There is no automatic fix: pick an initialisation that suits the activation.

    ## References
    - [torch.nn.init](https://pytorch.org/docs/stable/nn.init.html)
    - [Goyal et al., zero-init of the last BN gamma in residual blocks](https://arxiv.org/abs/1706.02677)
    """

    CODE = "NNL201"
    NAME = "zero-init-stacked-layers"
    MESSAGE = (
        "constant initialisation of a hidden layer's weight: its units stay identical"
    )
    SEVERITY = "error"
    TRIGGERS = ("zeros", "ones", "constant_", "fill_", "zero_", "full", "apply")
    # Only methods calling a constant initialiser by one of these spellings are
    # analysed (see visit_Call), plus the methods that ``.apply(fn)`` one; and from
    # outside classes only the module-level functions they apply.
    TRIGGER_PATTERN = re.compile(
        rf"(?<!\w)(?:{'|'.join(sorted(_CONSTANT_SPELLINGS))}|apply){_GAP}\("
    )
    CLASSES_ONLY = True
    EVIDENCE = staticmethod(_applied_functions)
    VALID = [
        # torchvision's zero_init_residual: a BatchNorm gamma, in a loop.
        "import torch.nn as nn\n"
        "class ResNet(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 8, 3)\n"
        "        self.bn3 = nn.BatchNorm2d(8)\n"
        "        self.fc = nn.Linear(8, 10)\n"
        "        nn.init.constant_(self.bn3.weight, 0)\n"
        "        for m in self.modules():\n"
        "            if isinstance(m, Bottleneck):\n"
        "                nn.init.constant_(m.bn3.weight, 0)\n"
        "    def forward(self, x):\n"
        "        return self.fc(self.bn3(self.conv(x)))\n",
        # LoRA: B is the last layer of the adapter branch, added to the frozen path.
        "import torch\n"
        "from torch import nn\n"
        "class LoRALinear(nn.Module):\n"
        "    def __init__(self, d_in, d_out, r):\n"
        "        super().__init__()\n"
        "        self.base = nn.Linear(d_in, d_out)\n"
        "        self.lora_A = nn.Linear(d_in, r, bias=False)\n"
        "        self.lora_B = nn.Linear(r, d_out, bias=False)\n"
        "        nn.init.zeros_(self.lora_B.weight)\n"
        "        self.B = nn.Parameter(torch.zeros(r, d_out))\n"
        "        self.A = nn.Parameter(torch.randn(d_in, r))\n"
        "    def forward(self, x):\n"
        "        y = self.base(x) + self.lora_B(self.lora_A(x))\n"
        "        return y + x @ self.A @ self.B\n",
        # DiT adaLN-Zero and a zero-initialised output head.
        "from torch import nn\n"
        "from torch.nn import init\n"
        "class FinalLayer(nn.Module):\n"
        "    def __init__(self, d, out):\n"
        "        super().__init__()\n"
        "        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, d))\n"
        "        self.linear = nn.Linear(d, out)\n"
        "        init.constant_(self.adaLN_modulation[-1].weight, 0)\n"
        "        init.constant_(self.adaLN_modulation[-1].bias, 0)\n"
        "        init.constant_(self.linear.weight, 0)\n"
        "    def forward(self, x, c):\n"
        "        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)\n"
        "        return self.linear(x * (1 + scale) + shift)\n",
        # Biases, and a constant init that a later random init overrides.
        "import torch.nn as nn\n"
        "class Mlp(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc1 = nn.Linear(4, 8)\n"
        "        self.fc2 = nn.Linear(8, 4)\n"
        "        nn.init.zeros_(self.fc1.bias)\n"
        "        self.fc1.weight.data.zero_()\n"
        "        nn.init.xavier_uniform_(self.fc1.weight)\n"
        "    def forward(self, x):\n"
        "        return self.fc2(self.fc1(x).relu())\n",
    ]
    INVALID = [
        Invalid(
            "import torch.nn as nn\n"
            "class Mlp(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.fc1 = nn.Linear(784, 256)\n"
            "        self.act = nn.ReLU()\n"
            "        self.fc2 = nn.Linear(256, 10)\n"
            "        nn.init.zeros_(self.fc1.weight)\n"
            "    def forward(self, x):\n"
            "        return self.fc2(self.act(self.fc1(x)))\n",
            line=8,
            column=9,
        ),
        Invalid(
            "from torch import nn\n"
            "class Net(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.body = nn.Sequential(\n"
            "            nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),\n"
            "            nn.Conv2d(8, 8, 3),\n"
            "        )\n"
            "        self.reset_parameters()\n"
            "    def reset_parameters(self):\n"
            "        self.body[0].weight.data.fill_(0.01)\n"
            "        self.body[-1].weight.data.fill_(0.01)\n",
            line=11,
            column=9,
        ),
        Invalid(
            "import torch\n"
            "import torch.nn.functional as F\n"
            "from torch import nn\n"
            "class TwoLayer(nn.Module):\n"
            "    def __init__(self, d, h):\n"
            "        super().__init__()\n"
            "        self.w1 = nn.Parameter(torch.zeros(d, h))\n"
            "        self.w2 = nn.Parameter(torch.zeros(h, d))\n"
            "    def forward(self, x):\n"
            "        return F.relu(x @ self.w1) @ self.w2\n",
            line=7,
            column=19,
        ),
        Invalid(
            "import torch.nn as tnn\n"
            "class Net(tnn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.enc = tnn.Linear(32, 32)\n"
            "        self.dec = tnn.Linear(32, 32)\n"
            "        with torch.no_grad():\n"
            "            self.enc.weight.zero_()\n"
            "    def forward(self, x):\n"
            "        h = self.enc(x)\n"
            "        h = h.view(-1, 32)\n"
            "        return self.dec(h)\n",
            line=8,
            column=13,
        ),
        Invalid(
            "from torch import nn\n"
            "class Mlp(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.net = nn.Sequential(\n"
            "            nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)\n"
            "        )\n"
            "        self.apply(self._init_weights)\n"
            "    def _init_weights(self, module):\n"
            "        if isinstance(module, nn.Linear):\n"
            "            nn.init.constant_(module.weight, 0.1)\n"
            "            nn.init.zeros_(module.bias)\n",
            line=11,
            column=13,
        ),
    ]

    def __init__(self, context: RuleContext) -> None:
        super().__init__(context)
        # Functions calling something spelled like a constant initialiser, and
        # functions calling ``.apply(...)``: the only ones analysed (found during
        # the shared walk, so no method is walked again without need).
        self._hot: set[cst.CSTNode] = set()
        self._applying: set[cst.CSTNode] = set()

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        name = func.attr.value if isinstance(func, cst.Attribute) else None
        if isinstance(func, cst.Name):
            name = func.value
        if name in _CONSTANT_SPELLINGS or name == "apply":
            for ancestor in reversed(self.context.ancestors):
                if isinstance(ancestor, cst.FunctionDef):
                    (self._applying if name == "apply" else self._hot).add(ancestor)
                    break

    def leave_Module(self, original_node: cst.Module) -> None:
        if self._hot:
            for owner in file_model(self).classes.values():
                if owner.is_module:
                    self._check_class(owner)

    def _check_class(self, owner: ClassModel) -> None:
        events = [
            (_normalise(owner, ref), node) for ref, node in self._constant_inits(owner)
        ]
        blanket = list(self._blanket_inits(owner))
        if not events and not blanket:
            return
        randomised = self._randomised(owner)
        constant = {ref for ref, _ in events}
        feeds = _hidden_layers(owner, self)
        for ref, reported in events:
            if ref in feeds and _text(ref) not in randomised:
                consumer = feeds[ref]
                if consumer in constant:
                    message = (
                        f"stacked layers `{_text(ref)}` and `{_text(consumer)}` both"
                        " get constant weights: symmetry is never broken, gradients"
                        " vanish"
                    )
                else:
                    message = (
                        f"hidden layer `{_text(ref)}` gets constant weights but feeds "
                        f"`{_text(consumer)}`: its units stay identical"
                    )
                self.report(reported, message)
        for kinds, call in blanket:
            self._check_blanket(owner, kinds, call, feeds)

    def _check_blanket(
        self, owner: ClassModel, kinds: set[str], call: cst.Call, feeds: dict[Ref, Ref]
    ) -> None:
        """``isinstance(m, nn.Linear)`` -> constant init: every Linear of the class."""
        for producer, consumer in feeds.items():
            layer = owner.layer(producer[0])
            if layer is not None and producer[1] is not None and layer.elements:
                layer = layer.elements[producer[1]]
            if layer is not None and layer.kind in kinds:
                kind = layer.kind.rpartition(".")[2]
                self.report(
                    call,
                    f"every `{kind}` gets constant weights here, including hidden"
                    f" layer `{_text(producer)}` which feeds `{_text(consumer)}`",
                )
                return

    def _blanket_inits(self, owner: ClassModel) -> Iterator[tuple[set[str], cst.Call]]:
        """Constant inits applied to every module of some types, through
        ``for m in self.modules()`` or ``self.apply(fn)``."""
        for name, method in owner.methods.items():
            if name.startswith("forward") or method not in self._hot | self._applying:
                continue
            me = self_name(method)
            for node in walk(method):
                if isinstance(node, cst.For) and isinstance(node.target, cst.Name):
                    loop = node.iter
                    if (
                        isinstance(loop, cst.Call)
                        and self_attr(loop.func, me) == "modules"
                    ):
                        yield from self._guarded_inits(node.body, node.target.value)
                elif (
                    isinstance(node, cst.Call)
                    and self_attr(node.func, me) == "apply"
                    and node.args
                ):
                    applied = self._applied_function(owner, node.args[0].value, me)
                    if applied is not None:
                        yield from self._guarded_inits(*applied)

    def _applied_function(
        self, owner: ClassModel, fn: cst.BaseExpression, me: str | None
    ) -> tuple[cst.BaseSuite, str] | None:
        method = owner.methods.get(self_attr(fn, me) or "")
        if method is not None and len(method.params.params) == 2:
            return method.body, method.params.params[1].name.value
        if isinstance(fn, cst.Name):
            for statement in self.context.module.body:
                if (
                    isinstance(statement, cst.FunctionDef)
                    and statement.name.value == fn.value
                    and statement.params.params
                ):
                    return statement.body, statement.params.params[0].name.value
        return None

    def _guarded_inits(
        self, block: cst.CSTNode, var: str
    ) -> Iterator[tuple[set[str], cst.Call]]:
        for node in walk(block):
            if not isinstance(node, cst.If):
                continue
            kinds = self._isinstance_kinds(node.test, var)
            if not kinds:
                continue
            for line in node.body.body:
                if not isinstance(line, cst.SimpleStatementLine):
                    continue
                for small in line.body:
                    call = small.value if isinstance(small, cst.Expr) else None
                    if isinstance(call, cst.Call):
                        target = self._constant_call_target(call)
                        if target is not None and _is_weight_of(target, var):
                            yield kinds, call

    def _isinstance_kinds(self, test: cst.BaseExpression, var: str) -> set[str]:
        """Mixing types ``test`` checks ``var`` against, when that is all it checks."""
        if not (
            isinstance(test, cst.Call)
            and isinstance(test.func, cst.Name)
            and test.func.value == "isinstance"
            and len(test.args) == 2
            and isinstance(test.args[0].value, cst.Name)
            and test.args[0].value.value == var
        ):
            return set()
        types = test.args[1].value
        options = (
            [e.value for e in types.elements]
            if isinstance(types, cst.Tuple)
            else [types]
        )
        return {q for q in map(self.qualified_name, options) if q in MIXING}

    def _constant_inits(self, owner: ClassModel) -> Iterator[tuple[Ref, cst.CSTNode]]:
        for name, method in owner.methods.items():
            if name.startswith("forward") or method not in self._hot:
                continue
            me = self_name(method)
            for node in walk(method):
                if isinstance(node, cst.Call):
                    target = self._constant_call_target(node)
                    ref = _weight_ref(target, me) if target is not None else None
                    if ref is not None:
                        yield ref, node
                elif isinstance(node, cst.Assign) and self._constant_tensor(node.value):
                    for target_node in node.targets:
                        ref = _weight_ref(target_node.target, me, raw_ok=True)
                        if ref is not None:
                            yield ref, node.value

    def _constant_call_target(self, call: cst.Call) -> cst.BaseExpression | None:
        if self.qualified_name(call.func) in _CONSTANT_INITS and call.args:
            return call.args[0].value
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value in _CONSTANT_METHODS:
            return func.value
        return None

    def _constant_tensor(self, value: cst.BaseExpression) -> bool:
        if (
            isinstance(value, cst.Call)
            and self.qualified_name(value.func) == _PARAMETER
        ):
            value = value.args[0].value if value.args else value
        return (
            isinstance(value, cst.Call)
            and self.qualified_name(value.func) in _CONSTANT_TENSORS
        )

    def _randomised(self, owner: ClassModel) -> set[str]:
        """Targets some other (non-constant) initialiser also touches."""
        found: set[str] = set()
        for method in owner.methods.values():
            me = self_name(method)
            for node in walk(method):
                if not isinstance(node, cst.Call) or not node.args:
                    continue
                if isinstance(
                    node.func, cst.Attribute
                ) and node.func.attr.value.endswith("_"):
                    target = node.func.value
                    name = node.func.attr.value
                else:
                    target, name = node.args[0].value, _called(node)
                ref = _weight_ref(target, me, raw_ok=True)
                if (
                    ref is not None
                    and name.endswith("_")
                    and name not in _CONSTANT_NAMES
                ):
                    found.add(_text(ref))
        return found


_CONSTANT_NAMES = frozenset(
    {"zeros_", "ones_", "constant_", "zero_", "fill_", "requires_grad_"}
)


def _is_weight_of(target: cst.BaseExpression, var: str) -> bool:
    if isinstance(target, cst.Attribute) and target.attr.value == "data":
        target = target.value
    return (
        isinstance(target, cst.Attribute)
        and target.attr.value == "weight"
        and isinstance(target.value, cst.Name)
        and target.value.value == var
    )


def _called(call: cst.Call) -> str:
    func = call.func
    if isinstance(func, cst.Attribute):
        return func.attr.value
    return func.value if isinstance(func, cst.Name) else ""


def _text(ref: Ref) -> str:
    attr, index = ref
    return attr if index is None else f"{attr}[{index}]"


def _weight_ref(
    target: cst.BaseExpression, me: str | None, raw_ok: bool = False
) -> Ref | None:
    """``("fc", None)`` for ``self.fc.weight(.data)``, ``("mlp", 0)`` for
    ``self.mlp[0].weight``, ``("w", None)`` for a raw ``self.w`` when ``raw_ok``."""
    if isinstance(target, cst.Attribute) and target.attr.value == "data":
        target = target.value
    raw = self_attr(target, me)
    if raw is not None:
        return (raw, None) if raw_ok else None
    if not (isinstance(target, cst.Attribute) and target.attr.value == "weight"):
        return None
    base = target.value
    attr = self_attr(base, me)
    if attr is not None:
        return attr, None
    if isinstance(base, cst.Subscript) and len(base.slice) == 1:
        index = base.slice[0].slice
        number = _integer(index.value) if isinstance(index, cst.Index) else None
        attr = self_attr(base.value, me)
        if attr is not None and number is not None:
            return attr, number
    return None


def _normalise(owner: ClassModel, ref: Ref) -> Ref:
    """``mlp[-1]`` -> ``mlp[2]`` for a three-element Sequential."""
    attr, index = ref
    layer = owner.layer(attr)
    if index is not None and index < 0 and layer is not None and layer.elements:
        return attr, index + len(layer.elements)
    return ref


def _integer(expr: cst.BaseExpression) -> int | None:
    if isinstance(expr, cst.Integer):
        return int(expr.value, 0)
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        inner = _integer(expr.expression)
        return None if inner is None else -inner
    return None


def _hidden_layers(owner: ClassModel, rule: Rule) -> dict[Ref, Ref]:
    """Each hidden layer of ``owner`` -> a mixing layer its output feeds."""
    feeds: dict[Ref, Ref] = {}
    for attr in owner.layers:
        layer = owner.layer(attr)
        if layer is None or not layer.elements:
            continue
        last: int | None = None
        for index, element in enumerate(layer.elements):
            if element.kind in MIXING:
                if last is not None:
                    feeds[(attr, last)] = (attr, index)
                last = index
            elif element.kind not in PASSTHROUGH:
                last = None
    for function in owner.forward_methods():
        for application in owner.flow(function, rule.qualified_name).applications:
            consumer = _first_mixing(owner, application.attr)
            producer = _last_mixing(owner, application.input)
            if consumer is not None and producer is not None:
                feeds.setdefault(producer, consumer)
    return feeds


def _kind(owner: ClassModel, attr: str) -> tuple[str | None, tuple | None]:
    layer = owner.layer(attr)
    if layer is None:
        return None, None
    return layer.kind, layer.elements


def _first_mixing(owner: ClassModel, attr: str) -> Ref | None:
    kind, elements = _kind(owner, attr)
    if kind in MIXING or kind == _PARAMETER:
        return attr, None
    for index, element in enumerate(elements or ()):
        if element.kind in MIXING:
            return attr, index
        if element.kind not in PASSTHROUGH:
            return None
    return None


def _last_mixing(owner: ClassModel, flow: Flow | None) -> Ref | None:
    """The mixing layer whose output ``flow`` is, through pass-through ops only."""
    if flow is None:
        return None
    for step in reversed(flow.steps):
        if step == "~":
            continue
        kind, elements = _kind(owner, step)
        if kind in MIXING or kind == _PARAMETER:
            return step, None
        if kind in PASSTHROUGH:
            continue
        for index in reversed(range(len(elements or ()))):
            element_kind = elements[index].kind  # type: ignore[index]
            if element_kind in MIXING:
                return step, index
            if element_kind not in PASSTHROUGH:
                return None
        return None
    return None
