"""NNL502: ``.data`` read inside ``forward`` (the result is cut from autograd)."""

from __future__ import annotations

import libcst as cst

from nnlint import norm_support as ns
from nnlint.names import dotted_name
from nnlint.rules.base import Invalid, Rule

# Reading these through ``.data`` never feeds autograd (metadata, host copies) or says
# "no gradient" explicitly; an in-place method (``.data.clamp_()``) is a deliberate
# write.
_HARMLESS = frozenset(
    "shape size dtype device dim ndim numel nelement element_size stride is_cuda "
    "is_contiguous data_ptr item tolist numpy detach".split()
)
_NO_GRAD = frozenset(
    {"torch.no_grad", "torch.inference_mode", "torch.set_grad_enabled"}
)
_PARAMETER = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})
_NO_PARAMETERS = frozenset(
    f"torch.nn.{name}" for name in ("Module", "Sequential", "ModuleList", "ModuleDict")
)
_TENSOR_HINTS = ("Tensor", "FloatTensor", "LongTensor")
_PACKED = ("PackedSequence", "pack_padded_sequence", "pack_sequence")


class _Finder(cst.CSTVisitor):
    """``.data`` reads in one ``forward`` body on a provable tensor."""

    def __init__(
        self, rule: DataInForward, tensors: set[str], parameters: set[str]
    ) -> None:
        super().__init__()
        self.rule = rule
        self.tensors = tensors  # forward arguments taken to be tensors
        self.parameters = parameters  # ``self.<name>`` assigned an ``nn.Parameter``
        self.stack: list[cst.CSTNode] = []
        self.found: list[cst.Attribute] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.stack.append(node)  # on_leave pops it even when children are skipped
        if isinstance(node, cst.FunctionDef | cst.ClassDef | cst.Lambda):
            return False  # nested scopes have their own names
        if isinstance(node, cst.With) and self._disables_grad(node):
            return False
        if isinstance(node, cst.Assert) or self._is_write(node):
            return False
        if isinstance(node, cst.Attribute) and node.attr.value == "data":
            if self._is_target(node.value) and not self._harmless():
                self.found.append(node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.stack.pop()

    def _disables_grad(self, node: cst.With) -> bool:
        for item in node.items:
            call = item.item
            func = call.func if isinstance(call, cst.Call) else call
            if self.rule.qualified_name(func) in _NO_GRAD:
                return True
        return False

    @staticmethod
    def _is_write(node: cst.CSTNode) -> bool:
        """Statements that store through ``.data`` or cache a value on ``self``."""
        if isinstance(node, cst.AugAssign):
            return True
        if not isinstance(node, cst.Assign):
            return False
        for target in node.targets:
            text = ns.source_text(target.target)
            if ".data" in text or ns.is_self_attr(target.target) is not None:
                return True
        return False

    def _is_target(self, receiver: cst.BaseExpression) -> bool:
        if isinstance(receiver, cst.Name):
            return receiver.value in self.tensors
        attr = ns.is_self_attr(receiver)
        if attr is not None:
            return attr in self.parameters
        name = dotted_name(receiver)
        # ``self.fc.weight`` / ``self.blocks.norm.bias``: a submodule's own parameter.
        return (
            name is not None
            and name.startswith("self.")
            and name.rsplit(".", 1)[-1] in ("weight", "bias")
        )

    def _harmless(self) -> bool:
        parent = self.stack[-2] if len(self.stack) >= 2 else None
        if isinstance(parent, cst.Attribute) and parent.value is self.stack[-1]:
            attr = parent.attr.value
            if attr in _HARMLESS or (attr.endswith("_") and not attr.endswith("__")):
                return True
        return self._in_condition()

    def _in_condition(self) -> bool:
        for outer, inner in zip(self.stack, self.stack[1:], strict=False):
            if isinstance(outer, cst.If | cst.While) and inner is outer.test:
                return True
        return False


class DataInForward(Rule):
    """
    ## What it does
    Flags `.data` read inside a module's `forward` on something that is provably a
    tensor taking part in the computation: a `forward` argument (annotated as a
    `Tensor`, or not annotated), a `self.<name>` assigned an `nn.Parameter` in the
    class, or a submodule's `self.<...>.weight` / `.bias`.

    Not reported, because no gradient is lost or the intent is explicit: `.data`
    under `with torch.no_grad()` / `torch.inference_mode()` (EMA and running-stat
    updates), in-place writes (`p.data.clamp_()`, `w.data[...] = ...`, `x.data =
    ...`), values cached on `self`, metadata reads (`x.data.shape`, `.dtype`,
    `.device`, `.item()`, `.tolist()`, `.numpy()`), `.data.detach()`, conditions of
    `if`/`while` and `assert`, `.data` outside `forward` (init code), `self.data`
    attributes, dict keys named `"data"`, and arguments of a file that handles
    `PackedSequence` (whose `.data` field is legitimate) unless annotated `Tensor`.

    ## Why is this bad?
    `.data` returns the same storage with autograd switched off. Whatever is
    computed from it has no gradient path back: a weight read through `.data`
    never trains, an input read through `.data` stops gradients reaching every
    earlier layer, and autograd cannot detect later in-place changes through it, so
    gradients can also be silently wrong. Training still "runs", which makes this
    hard to find.

    ## Example
    ```python
    def forward(self, x):
        return torch.nn.functional.linear(x, self.proj.weight.data)
    ```

    ## Use instead
    ```python
    def forward(self, x):
        return torch.nn.functional.linear(x, self.proj.weight)
    ```
    If cutting the gradient is intended, say so with `.detach()` (which autograd
    still checks for in-place modification).

    ## Fix safety
    The fix removes `.data`, so gradients flow where they did not before: the
    training changes, and code that modified the tensor in place through that value
    may now raise. It is therefore unsafe.

    ## References
    - [PyTorch autograd mechanics: in-place correctness checks](https://pytorch.org/docs/stable/notes/autograd.html#in-place-correctness-checks)
    - [torch.Tensor.detach](https://pytorch.org/docs/stable/generated/torch.Tensor.detach.html)
    """

    CODE = "NNL502"
    NAME = "data-in-forward"
    MESSAGE = "`.data` in forward cuts this tensor out of autograd: no gradient flows"
    SEVERITY = "error"
    FIX_TITLE = "Use the tensor itself (gradients flow through it)"
    FIX_IS_SAFE = False
    # ``.data`` as used on a tensor; a bare ``.data`` also matches every
    # ``torch.utils.data``/``timm.data`` import, which would parse most files.
    TRIGGERS = tuple(
        f".data{after}"
        for after in (")", ",", ".", "[", "\n", " *", " +", " -", " /", " @")
    )

    VALID = [
        # Init code may use .data; forward uses the parameter itself.
        "from torch import nn\n"
        "class Scale(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.gain = nn.Parameter(torch.ones(4))\n"
        "        self.gain.data.fill_(0.5)\n"
        "    def forward(self, x):\n"
        "        return x * self.gain\n",
        # EMA update under no_grad, and an in-place clamp.
        "import torch\n"
        "class Codebook(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        with torch.no_grad():\n"
        "            self.embed.weight.data.mul_(0.99).add_(0.01 * x.data.mean(0))\n"
        "        self.scale.data.clamp_(0, 4.6)\n"
        "        return x @ self.embed.weight.t()\n",
        # A dict key and a plain attribute named data are not Tensor.data.
        "class Reader(Module):\n"
        "    def forward(self, batch: dict):\n"
        "        return self.encoder(batch['data']) + self.data + batch.data\n",
        # Metadata reads and an explicit detach.
        "class Probe(Module):\n"
        "    def forward(self, x):\n"
        "        n = x.data.shape[0]\n"
        "        ref = self.fc.weight.data.detach()\n"
        "        return x.view(n, -1) - ref.mean()\n",
        # A PackedSequence's .data field is legitimate.
        "from torch.nn.utils.rnn import PackedSequence\n"
        "class Rnn(Module):\n"
        "    def forward(self, packed):\n"
        "        return PackedSequence(self.proj(packed.data), packed.batch_sizes)\n",
    ]
    INVALID = [
        Invalid(
            "import torch\n"
            "class Tied(torch.nn.Module):\n"
            "    def forward(self, h):\n"
            "        return torch.nn.functional.linear(h, self.embed.weight.data)\n",
            line=4,
            column=46,
            fixed="import torch\n"
            "class Tied(torch.nn.Module):\n"
            "    def forward(self, h):\n"
            "        return torch.nn.functional.linear(h, self.embed.weight)\n",
        ),
        Invalid(
            "from torch import Tensor, nn\n"
            "class Gate(nn.Module):\n"
            "    def __init__(self, n):\n"
            "        super().__init__()\n"
            "        self.alpha = nn.Parameter(torch.zeros(n))\n"
            "    def forward(self, x: Tensor) -> Tensor:\n"
            "        return x * self.alpha.data.sigmoid()\n",
            line=7,
            column=20,
            fixed="from torch import Tensor, nn\n"
            "class Gate(nn.Module):\n"
            "    def __init__(self, n):\n"
            "        super().__init__()\n"
            "        self.alpha = nn.Parameter(torch.zeros(n))\n"
            "    def forward(self, x: Tensor) -> Tensor:\n"
            "        return x * self.alpha.sigmoid()\n",
        ),
        Invalid(
            "class Encoder(Module):\n"
            "    def forward(self, tokens, mask=None):\n"
            "        h = self.embed(tokens.data)\n"
            "        return self.body(h, mask)\n",
            line=3,
            column=24,
            fixed="class Encoder(Module):\n"
            "    def forward(self, tokens, mask=None):\n"
            "        h = self.embed(tokens)\n"
            "        return self.body(h, mask)\n",
        ),
    ]

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node.name.value != "forward":
            return
        owner = self.context.ancestors[-3] if len(self.context.ancestors) >= 3 else None
        if not isinstance(owner, cst.ClassDef):
            return
        finder = _Finder(self, self._tensor_arguments(node), self._parameters(owner))
        node.body.visit(finder)
        for found in finder.found:
            self.report(found, replacements={found: found.value})

    def _tensor_arguments(self, node: cst.FunctionDef) -> set[str]:
        packed = any(word in self.context.module.code for word in _PACKED)
        names = set()
        params = node.params
        for param in [*params.posonly_params, *params.params, *params.kwonly_params]:
            if param.name.value in ("self", "cls"):
                continue
            hint = param.annotation
            if hint is None:
                if not packed:
                    names.add(param.name.value)
            elif any(word in ns.source_text(hint.annotation) for word in _TENSOR_HINTS):
                names.add(param.name.value)
        return names

    def _parameters(self, owner: cst.ClassDef) -> set[str]:
        table = ns.class_table(owner, self.qualified_name)
        found = {
            name for name, member in table.members.items() if member.kind in _PARAMETER
        }
        # A subclass of a torch layer (``class MyLinear(nn.Linear)``) inherits its
        # ``weight``/``bias`` parameters; plain containers have none.
        for base in owner.bases:
            kind = self.qualified_name(base.value) or ""
            if kind.startswith("torch.nn.") and kind not in _NO_PARAMETERS:
                found |= {"weight", "bias"} - set(table.members)
        return found
