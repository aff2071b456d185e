"""NNL201: zero or constant initialisation of a hidden layer's weight."""

from __future__ import annotations

import ast
import re

import libcst as cst

from nnlint.analysis.cst_syntax import called_name, enclosing, same_expression
from nnlint.analysis.layer_feeds import Ref, hidden_layers, normalise, ref_text
from nnlint.analysis.layer_kinds import MIXING
from nnlint.analysis.module_model import ClassModel, Layer, file_model
from nnlint.rules.base import Invalid, Rule, RuleContext
from nnlint.rules.constant_inits import (
    CONSTANT_INITS,
    CONSTANT_METHODS,
    CONSTANT_TENSORS,
    blanket_inits,
    constant_inits,
    randomised,
    submodule_inits,
)
from nnlint.rules.needs import Needs, any_word
from nnlint.rules.screens import (
    Function,
    call_name,
    called_names,
    calls,
    classes,
    identifiers,
    methods,
    nodes,
)

_CONSTANT_SPELLINGS = CONSTANT_METHODS | {
    q.rpartition(".")[2] for q in CONSTANT_INITS | CONSTANT_TENSORS
}
# A parent initialising its LoRA adapter (VALID zeroes ``up``, INVALID ``down``).
_LORA_BLOCK = (
    "from torch import nn\n"
    "class LoRA(nn.Module):\n"
    "    def __init__(self, d, r):\n"
    "        super().__init__()\n"
    "        self.down = nn.Linear(d, r, bias=False)\n"
    "        self.up = nn.Linear(r, d, bias=False)\n"
    "    def forward(self, x):\n"
    "        return x + self.up(self.down(x))\n"
    "class Block(nn.Module):\n"
    "    def __init__(self, d):\n"
    "        super().__init__()\n"
    "        self.adapter = LoRA(d, 4)\n"
)

# Whatever Python allows between two tokens: spaces, newlines, continuations, comments.
_GAP = r"(?:[\s\\]|#[^\n]*+)*+"
_APPLIED = re.compile(rf"(?<!\w)apply{_GAP}\({_GAP}(\w+)")


def _applied_functions(hit: str) -> re.Pattern[str]:
    """The definitions of the functions that ``hit`` passes to ``.apply(...)``."""
    names = "|".join(sorted(set(_APPLIED.findall(hit)))) or "(?!)"
    # Starts with the literal "def", which re finds fast ("def f" in a string or a
    # nested function only keeps more).
    return re.compile(rf"def[ \t]+(?:{names})(?!\w)")


# Last names of the constant initialisers called on a weight, and of the constant
# tensors assigned to one.
_CONSTANT_CALLS = CONSTANT_METHODS | {q.rpartition(".")[2] for q in CONSTANT_INITS}
_CONSTANT_TENSOR_CALLS = frozenset(q.rpartition(".")[2] for q in CONSTANT_TENSORS)
_MIXING_SPELLINGS = frozenset(q.rpartition(".")[2] for q in MIXING)
_INIT_CALLS = _CONSTANT_CALLS | _CONSTANT_TENSOR_CALLS | {"apply"}


def _constant_tensor(value: ast.expr) -> bool:
    """``torch.zeros(...)``, also wrapped (``nn.Parameter(torch.zeros(...))``)."""
    if isinstance(value, ast.Call) and value.args:
        if call_name(value) not in _CONSTANT_TENSOR_CALLS:
            value = value.args[0]
    return isinstance(value, ast.Call) and call_name(value) in _CONSTANT_TENSOR_CALLS


def _weight_roots(node: ast.AST) -> set[str]:
    """The names ``x.weight`` / ``x.a[0].weight`` chains in ``node`` start from."""
    roots = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Attribute) and child.attr == "weight":
            base: ast.expr = child.value
            while isinstance(base, ast.Attribute | ast.Subscript):
                base = base.value
            if isinstance(base, ast.Name):
                roots.add(base.id)
    return roots


def _guards_mixing_type(method: ast.AST) -> bool:
    """``isinstance(m, nn.Linear)`` (or another mixing layer) somewhere in it: the
    guard of a blanket init (``for m in self.modules()``, ``self.apply``)."""
    return any(
        call_name(call) == "isinstance"
        and len(call.args) == 2
        and not identifiers(call.args[1]).isdisjoint(_MIXING_SPELLINGS)
        for call in calls(method)
    )


def _initialises_constant(method: Function) -> bool:
    """A constant initialiser on a weight of the method's own object (``self``) or,
    under a mixing-type guard, of any module; a constant tensor assigned; or
    ``.apply(fn)`` of a plain function (kept as evidence, it may be a blanket
    init; an applied method is judged as a method of its own)."""
    me = method.args.args[0].arg if method.args.args else None
    guarded: bool | None = None
    for node in nodes(method):
        if isinstance(node, ast.Call):
            name = call_name(node)
            if name == "apply" and node.args and isinstance(node.args[0], ast.Name):
                return True
            if name in _CONSTANT_CALLS:
                roots = _weight_roots(node)
                if me in roots:
                    return True
                if roots and guarded is None:
                    guarded = _guards_mixing_type(method)
                if roots and guarded:
                    return True
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            if _constant_tensor(node.value):
                return True
    return False


def _one_unit_per_group(owner: ClassModel, ref: Ref) -> bool:
    """A grouped convolution with one output channel per group (``groups`` spelled as
    ``out_channels``, as in a depthwise convolution): each unit reads its own input
    channel, so equal weights give no two units the same function. Constant weights
    there are a fixed filter (an average pool), not a symmetry."""
    layer = _layer_at(owner, ref)
    if layer is None or not (layer.kind or "").startswith("torch.nn.Conv"):
        return False
    groups, out = layer.arg(6, "groups"), layer.arg(1, "out_channels")
    return groups is not None and out is not None and same_expression(groups, out)


def _layer_at(owner: ClassModel, ref: Ref) -> Layer | None:
    """The layer ``ref`` names: an attribute, or one literal element of a container
    attribute (the container itself when its elements are not literal)."""
    layer = owner.layer(ref[0])
    if layer is not None and ref[1] is not None and layer.elements:
        if not 0 <= ref[1] < len(layer.elements):
            return None
        layer = layer.elements[ref[1]]
    return layer


def _may_report(statement: ast.stmt) -> bool:
    """Every finding is a constant init in a method other than ``forward*`` of a
    class here (of a layer of this class or of a submodule's), or in a function
    such a method hands to ``.apply``."""
    return not called_names(statement).isdisjoint(_INIT_CALLS) and any(
        _initialises_constant(method)
        for node in classes(statement)
        for method in methods(node)
        if not method.name.startswith("forward")
    )


# A convolution set to an average filter before a key projection: with
# ``groups=dim`` it is depthwise (a VALID example), without it dense (INVALID).
_AVERAGE_POOL_CONV = (
    "import torch\n"
    "from torch import nn\n"
    "class PooledKeys(nn.Module):\n"
    "    def __init__(self, dim, k):\n"
    "        super().__init__()\n"
    "        self.pool = nn.Conv2d(dim, dim, kernel_size=k, stride=k)\n"
    "        self.pool.weight.data.fill_(1.0 / (k * k))\n"
    "        self.pool.bias.data.fill_(0)\n"
    "        self.key = nn.Linear(dim, dim)\n"
    "    def forward(self, x):\n"
    "        y = self.pool(x).flatten(2).transpose(1, 2)\n"
    "        return self.key(y)\n"
)


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

    An init done by the class that holds the layer's module,
    `nn.init.zeros_(self.adapter.down.weight)`, is judged in that module's class.

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
    # Only methods calling a constant initialiser by one of these spellings are
    # analysed (see visit_Call), plus the methods that ``.apply(fn)`` one; and from
    # outside classes only the module-level functions they apply (the evidence).
    NEEDS = Needs(
        ("zeros", "ones", "constant_", "fill_", "zero_", "full", "apply"),
        scope="modules",
        pattern=re.compile(rf"{any_word({*_CONSTANT_SPELLINGS, 'apply'})}{_GAP}\("),
        evidence=_applied_functions,
        screen=_may_report,
    )
    VALID = [
        # A depthwise convolution (one output channel per group) set to an average
        # pool: each unit reads its own channel, so equal weights are no symmetry.
        _AVERAGE_POOL_CONV.replace("stride=k)", "stride=k, groups=dim)"),
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
        # A parent zeroes the adapter's last layer only (LoRA's B): it is added to
        # the skip, not hidden.
        _LORA_BLOCK + "        nn.init.zeros_(self.adapter.up.weight)\n",
    ]
    INVALID = [
        Invalid(
            # The same average filter on a dense convolution: every output channel
            # sums all input channels with the same weights, so all are identical.
            _AVERAGE_POOL_CONV,
            line=7,
            column=9,
        ),
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
        # A parent zeroes a hidden layer of its submodule: ``down`` feeds ``up``.
        Invalid(
            _LORA_BLOCK + "        nn.init.zeros_(self.adapter.down.weight)\n",
            line=13,
            column=9,
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
        name = called_name(node)
        if name in _CONSTANT_SPELLINGS or name == "apply":
            function = enclosing(self.context.ancestors, cst.FunctionDef)
            if function is not None:
                (self._applying if name == "apply" else self._hot).add(function)

    def leave_Module(self, original_node: cst.Module) -> None:
        if not self._hot:
            return
        model = self.context.get(file_model)
        inherited: dict[cst.ClassDef, list[tuple[Ref, cst.CSTNode]]] = {}
        for owner in model.classes.values():
            for sub, ref, node in submodule_inits(self, owner, self._hot):
                layer = owner.layer(sub)
                kind = layer.kind if layer is not None else None
                child = model.by_name.get((kind or "").removeprefix("local."))
                if kind and kind.startswith("local.") and child is not None:
                    inherited.setdefault(child.node, []).append((ref, node))
        for owner in model.classes.values():
            if owner.is_module:
                self._check_class(owner, inherited.get(owner.node, []))

    def _check_class(
        self, owner: ClassModel, inherited: list[tuple[Ref, cst.CSTNode]]
    ) -> None:
        """``inherited``: constant inits of this class's layers done by a parent
        (``nn.init.zeros_(self.proj.lora_A.weight)`` in the class holding ``proj``)."""
        events = [
            (normalise(owner, ref), node)
            for ref, node in [*constant_inits(self, owner, self._hot), *inherited]
        ]
        blanket = list(blanket_inits(self, owner, self._hot | self._applying))
        if not events and not blanket:
            return
        randomised_refs = randomised(owner)
        constant = {ref for ref, _ in events}
        feeds = hidden_layers(owner)
        for ref, reported in events:
            if (
                ref in feeds
                and ref_text(ref) not in randomised_refs
                and not _one_unit_per_group(owner, ref)
            ):
                consumer = feeds[ref]
                if consumer in constant:
                    message = (
                        f"stacked layers `{ref_text(ref)}` and"
                        f" `{ref_text(consumer)}` both get constant weights: symmetry"
                        " is never broken, gradients vanish"
                    )
                else:
                    message = (
                        f"hidden layer `{ref_text(ref)}` gets constant weights but"
                        f" feeds `{ref_text(consumer)}`: its units stay identical"
                    )
                self.report(reported, message)
        for kinds, call in blanket:
            self._check_blanket(owner, kinds, call, feeds)

    def _check_blanket(
        self, owner: ClassModel, kinds: set[str], call: cst.Call, feeds: dict[Ref, Ref]
    ) -> None:
        """``isinstance(m, nn.Linear)`` -> constant init: every Linear of the class."""
        for producer, consumer in feeds.items():
            layer = _layer_at(owner, producer)
            if layer is not None and layer.kind in kinds:
                kind = layer.kind.rpartition(".")[2]
                self.report(
                    call,
                    f"every `{kind}` gets constant weights here, including hidden"
                    f" layer `{ref_text(producer)}` which feeds"
                    f" `{ref_text(consumer)}`",
                )
                return
