"""NNL502: ``.data`` read inside ``forward`` (the result is cut from autograd)."""

from __future__ import annotations

import ast
import re

import libcst as cst

from nnlint.analysis.cst_syntax import is_self_attr, source_text
from nnlint.analysis.data_reads import (
    handed_to_metadata_helpers,
    harmless,
    helper_definitions,
    saved_for_restore,
)
from nnlint.analysis.module_model import class_model
from nnlint.analysis.names import dotted_name
from nnlint.rules.base import Invalid, Rule
from nnlint.rules.needs import Needs
from nnlint.rules.screens import classes, identifiers, methods, nodes

_PARAMETER = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})
_NO_PARAMETERS = frozenset(
    f"torch.nn.{name}" for name in ("Module", "Sequential", "ModuleList", "ModuleDict")
)
_TENSOR_HINTS = ("Tensor", "FloatTensor", "LongTensor")
_PACKED = ("PackedSequence", "pack_padded_sequence", "pack_sequence")


def _reads_data_in_forward(statement: ast.stmt) -> bool:
    """A ``.data`` attribute inside a method named ``forward`` of a class here."""
    return "data" in identifiers(statement) and any(
        isinstance(node, ast.Attribute) and node.attr == "data"
        for owner in classes(statement)
        for method in methods(owner, "forward")
        if method.name == "forward"
        for node in nodes(method)
    )


class DataInForward(Rule):
    """
    ## What it does
    Flags `.data` read inside a module's `forward` on something that is provably a
    tensor taking part in the computation: a `forward` argument (annotated as a
    `Tensor`, or not annotated), a `self.<name>` assigned an `nn.Parameter` in the
    class, or a submodule's `self.<...>.weight` / `.bias`.

    Not reported, because no gradient is lost or the intent is explicit: `.data` under
    `with torch.no_grad()` / `torch.inference_mode()` (EMA and running-stat updates),
    in-place writes (`p.data.clamp_()`, `w.data[...] = ...`, `x.data = ...`), values
    cached on `self`, metadata reads (`x.data.shape`, `.dtype`, `.device`, `.size()`,
    `.dim()`, `.item()`, `.tolist()`, `.numpy()`), `.data.detach()`, the `new_*`
    factories (`x.data.new_full(size, v)`, `.new_zeros`, `.new_ones`, `.new_empty`,
    `.new_tensor`, and the legacy `.new(...)`: they read only dtype and device),
    comparisons and index results (`.eq(0)`, `.gt()`, `.isnan()`, `.argmax()`,
    `.nonzero()`: they have no gradient anyway), `.data` passed by position to a
    top-level function of the file that only reads such metadata from that
    parameter (`mask_like(x.data, size)`), conditions of `if`/`while` and
    `assert`, `.data` outside `forward` (init code), `self.data` attributes, dict keys
    named `"data"`, and, in a file that imports from `torch.nn.utils.rnn` (a
    `PackedSequence` has a legitimate `.data` field), arguments not annotated `Tensor`.

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
    # Only a method named exactly ``forward`` is read (see visit_FunctionDef).
    NEEDS = Needs(
        tuple(
            f".data{after}"
            for after in (")", ",", ".", "[", "\n", " *", " +", " -", " /", " @")
        ),
        scope="classes",
        pattern=re.compile(r"^[ \t]+(?:async[ \t]+)?def[ \t]+forward(?!\w)", re.M),
        evidence=helper_definitions,
        screen=_reads_data_in_forward,
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
        # new_* factories and metadata reads take only dtype, device and shape.
        "from torch import nn\n"
        "class Masker(nn.Module):\n"
        "    def __init__(self, d):\n"
        "        super().__init__()\n"
        "        self.w = nn.Parameter(torch.ones(d))\n"
        "    def forward(self, x, lengths):\n"
        "        pad = x.data.new_full((x.data.size(0), 1), -1.0)\n"
        "        keep = self.w.data.new_ones(x.data.dim())\n"
        "        hole = x.data.new_zeros(x.data.shape, dtype=self.w.data.dtype)\n"
        "        idx = lengths.data.new_tensor([0, 1], device=x.data.device)\n"
        "        return x * self.w + pad.sum() + keep.sum() + hole.sum() + idx\n",
        # The legacy ``new`` constructor builds a dropout mask of x's dtype and
        # device; a comparison builds a padding mask: neither has a gradient to cut.
        "from torch import nn\n"
        "class LockedDropout(nn.Module):\n"
        "    def forward(self, x, tokens):\n"
        "        m = x.data.new(x.size(0), 1, x.size(2)).bernoulli_(0.9)\n"
        "        pad = tokens.data.eq(0) | tokens.data.argmax(-1).gt(3)\n"
        "        return x * m / 0.9 * pad\n",
        # .data handed to a helper of the file that reads only its dtype and
        # device to build a mask (the product uses the tensor itself).
        "from torch import nn\n"
        "def mask_like(t, size, p):\n"
        "    return t.new_empty(*size).bernoulli_(1 - p).div_(1 - p)\n"
        "class RowDropout(nn.Module):\n"
        "    def forward(self, x):\n"
        "        return x * mask_like(x.data, (x.size(0), 1), 0.5)\n",
        # The weight's storage swapped for inference and restored: the saved
        # ``.data`` is only ever written back.
        "from torch import nn\n"
        "class Merged(nn.Module):\n"
        "    def forward(self, x):\n"
        "        original = self.base.weight.data\n"
        "        self.base.weight.data = self.merged\n"
        "        try:\n"
        "            return self.base(x)\n"
        "        finally:\n"
        "            self.base.weight.data = original\n",
        # A PackedSequence's .data field is legitimate.
        "from torch.nn.utils.rnn import PackedSequence\n"
        "class Rnn(Module):\n"
        "    def forward(self, packed):\n"
        "        return PackedSequence(self.proj(packed.data), packed.batch_sizes)\n",
        # A graph library's node batch: ``.data`` read by a string key is a mapping
        # of feature tensors, which no tensor can be indexed by.
        "from torch import nn\n"
        "class GatedUpdate(nn.Module):\n"
        "    def forward(self, nodes):\n"
        "        z = self.gate(nodes.data['x'] + nodes.data['h'])\n"
        "        return {'h': z * nodes.data['h']}\n",
    ]
    INVALID = [
        Invalid(
            # Indexed by position, not by a key: a tensor's data.
            "from torch import nn\n"
            "class Head(nn.Module):\n"
            "    def forward(self, x, idx):\n"
            "        return self.fc(x.data[idx])\n",
            line=4,
            column=24,
            fixed="from torch import nn\n"
            "class Head(nn.Module):\n"
            "    def forward(self, x, idx):\n"
            "        return self.fc(x[idx])\n",
        ),
        Invalid(
            # Saved, then computed with: not only restored.
            "from torch import nn\n"
            "class Merged(nn.Module):\n"
            "    def forward(self, x):\n"
            "        w = self.base.weight.data\n"
            "        self.base.weight.data = w\n"
            "        return x @ w\n",
            line=4,
            column=13,
            fixed="from torch import nn\n"
            "class Merged(nn.Module):\n"
            "    def forward(self, x):\n"
            "        w = self.base.weight\n"
            "        self.base.weight.data = w\n"
            "        return x @ w\n",
        ),
        Invalid(
            # A helper that computes with the value (not only its metadata).
            "from torch import nn\n"
            "def scaled(t, s):\n"
            "    return t * s\n"
            "class Head(nn.Module):\n"
            "    def forward(self, x):\n"
            "        return scaled(x.data, 2.0)\n",
            line=6,
            column=23,
            fixed="from torch import nn\n"
            "def scaled(t, s):\n"
            "    return t * s\n"
            "class Head(nn.Module):\n"
            "    def forward(self, x):\n"
            "        return scaled(x, 2.0)\n",
        ),
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
        model = class_model(self.context, owner)
        tensors, parameters = self._tensor_arguments(node), self._parameters(owner)
        handed = handed_to_metadata_helpers(self.context.module, node)
        handed |= saved_for_restore(node)
        for read in model.flow(node).data_reads.found:
            found = read.node
            if id(found) in handed or harmless(read):
                continue
            if _is_target(found.value, tensors, parameters):
                self.report(found, replacements={found: found.value})

    def _tensor_arguments(self, node: cst.FunctionDef) -> set[str]:
        packed = self._handles_packed_sequences()
        names = set()
        params = node.params
        for param in [*params.posonly_params, *params.params, *params.kwonly_params]:
            if param.name.value in ("self", "cls"):
                continue
            hint = param.annotation
            if hint is None:
                if not packed:
                    names.add(param.name.value)
            elif any(word in source_text(hint.annotation) for word in _TENSOR_HINTS):
                names.add(param.name.value)
        return names

    def _handles_packed_sequences(self) -> bool:
        """The file imports ``torch.nn.utils.rnn`` or one of its packing helpers."""
        return any(
            target.startswith("torch.nn.utils.rnn") or target.endswith(_PACKED)
            for target in self.context.imports.aliases.values()
        )

    def _parameters(self, owner: cst.ClassDef) -> set[str]:
        table = class_model(self.context, owner).table
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


def _is_target(
    receiver: cst.BaseExpression, tensors: set[str], parameters: set[str]
) -> bool:
    """A forward argument taken to be a tensor, a parameter of the class, or a
    submodule's own ``weight``/``bias``."""
    if isinstance(receiver, cst.Name):
        return receiver.value in tensors
    attr = is_self_attr(receiver)
    if attr is not None:
        return attr in parameters
    name = dotted_name(receiver)
    # ``self.fc.weight`` / ``self.blocks.norm.bias``: a submodule's own parameter.
    return (
        name is not None
        and name.startswith("self.")
        and name.rsplit(".", 1)[-1] in ("weight", "bias")
    )
