"""NNL401: post-LN residual blocks (``norm(x + f(x))``) stacked deeply."""

from __future__ import annotations

import ast
import re
import sys

import libcst as cst

from nnlint.analysis.cst_syntax import enclosing
from nnlint.analysis.module_model import class_model
from nnlint.analysis.residual_sums import post_ln_norms
from nnlint.analysis.stack_depth import LoopDepths
from nnlint.analysis.torch_post_ln import (
    ENCODER_STACKS,
    post_ln_encoder,
    post_ln_transformer_depth,
)
from nnlint.rules.base import Invalid, Rule, RuleContext
from nnlint.rules.needs import AnyOf, Needs, any_word
from nnlint.rules.screens import adds, called_names, classes

# The original Transformer trained 6 post-LN layers (with warm-up); deeper post-LN
# stacks are where divergence without warm-up is documented (see the docstring).
MAX_POST_LN_DEPTH = 6


# A module-level integer constant (``N_LAYERS = 16``, also ``A = B = 16``).
_DEPTH_CONSTANT = re.compile(
    r"^\w+(?:[ \t]*=[ \t]*\w+)*[ \t]*(?::[^=\n]*)?=[ \t(]*\d", re.MULTILINE
)
_TOP_LEVEL_CLASS = re.compile(r"^class[ \t]+(\w+)", re.MULTILINE)
_NORM_SPELLINGS = frozenset({"LayerNorm", "RMSNorm", "layer_norm", "rms_norm"})


class _Stackers:
    """The statements that call, by bare name, a top-level class defined in the
    picked text, or a top-level class whose text calls one, and so on: every link
    of a chain ``Net -> Stage -> Block`` that multiplies a block's depth, even when
    the screen dropped the middle links from the picked text. A class's text runs
    to the next top-level ``class`` line (keeping more, never less)."""

    def __init__(self, hit: str) -> None:
        self.names = set(_TOP_LEVEL_CLASS.findall(hit))
        self.source: str | None = None
        self.pattern: re.Pattern[str] | None = None

    def search(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> object:
        if self.source is not string or self.pattern is None:
            self.source, self.pattern = string, self._callers(string)
        return self.pattern.search(string, pos, endpos)

    def _callers(self, source: str) -> re.Pattern[str]:
        found = [(m.start(), m.group(1)) for m in _TOP_LEVEL_CLASS.finditer(source)]
        ends = [start for start, _ in found[1:]] + [len(source)] * bool(found)
        texts: dict[str, str] = {}
        for (start, name), end in zip(found, ends, strict=True):
            texts[name] = texts.get(name, "") + source[start:end]
        names, frontier = set(self.names), set(self.names)
        while frontier:
            called = re.compile(rf"{any_word(frontier, after_dot=False)}\s*\(")
            frontier = {n for n, text in texts.items() if n not in names}
            frontier = {n for n in frontier if called.search(texts[n])}
            names |= frontier
        return re.compile(rf"{any_word(names, after_dot=False)}\s*\(")


def stacks_and_depths(hit: str) -> AnyOf:
    """Statements that may stack a block defined in ``hit`` (directly or through
    other classes, :class:`_Stackers`) or give a loop its length (module-level
    integer constants)."""
    return AnyOf(_Stackers(hit), _DEPTH_CONSTANT)  # type: ignore[arg-type]


def _may_report(statement: ast.stmt) -> bool:
    """A post-LN block is a class calling a norm and adding (the residual sum); a
    torch Transformer stack is reported at a call spelled ``Transformer...``."""
    called = called_names(statement)
    if any("Transformer" in name for name in called):
        return True
    return (
        not called.isdisjoint(_NORM_SPELLINGS)
        and adds(statement)
        and any(
            not called_names(node).isdisjoint(_NORM_SPELLINGS) and adds(node)
            for node in classes(statement)
        )
    )


class PostLnInDeepStack(Rule):
    """
    ## What it does
    Flags post-LN residual blocks, where the norm is applied *after* the residual
    add (`x = self.norm(x + self.attn(x))`, or `x = x + f(x)` followed by
    `x = self.norm(x)`), in a block class that the same file stacks more than 6
    deep; and `nn.TransformerEncoder`/`TransformerDecoder`/`nn.Transformer` built
    from post-LN layers (`norm_first` left at its default `False`) with more than
    6 layers. The finding points at the norm call in the block (or at the layer
    constructor, whose `norm_first` to change).

    The depth must be provable from the source: the block is instantiated in a
    `for ... in range(N)` loop or a comprehension over `range(N)` (a `ModuleList`,
    `nn.Sequential(*[...])`), possibly inside another block that is itself
    stacked, with `N` a literal, a module-level constant, or the default value of
    the enclosing function's parameter. A stack whose depth comes from a config
    object is not reported (BERT-style models with `config.num_hidden_layers`),
    and neither is a shallow post-LN stack (at most 6 layers, like the original
    Transformer).

    Post-LN means the normalised sum *replaces* the residual stream: the norm's
    output is assigned back to the stream or returned (possibly scaled and
    shifted), and the un-normalised sum is not read again. These are not post-LN:
    pre-LN blocks (`x = x + self.attn(self.norm(x))`) with a final norm after the
    stack; a second norm that reads the first residual sum but only feeds a
    branch (`h = self.norm2(x); x = x + self.mlp(h)`, or
    `x = x + self.mlp(self.norm2(x))`); adaptive LayerNorm
    (`self.norm2(x) * (1 + scale) + shift` feeding a branch); and norms of
    non-residual sums such as `self.norm(x + self.pos_embed)`.

    ## Why is this bad?
    In a post-LN Transformer the gradients of the last layers' parameters are
    large at initialisation and the residual stream is renormalised after every
    block, so the output depends strongly on every layer ("amplified" updates).
    Deep post-LN stacks diverge or stall unless trained with a carefully tuned
    learning-rate warm-up; pre-LN stacks train stably without it. Six layers is
    the depth the original Transformer used with warm-up; much deeper post-LN
    stacks are documented to diverge without special initialisation.

    ## Example
    ```python
    class Block(nn.Module):
        def forward(self, x):
            x = self.norm1(x + self.attn(x))
            return self.norm2(x + self.mlp(x))

    blocks = nn.Sequential(*[Block() for _ in range(24)])
    ```

    ## Use instead
    ```python
    class Block(nn.Module):
        def forward(self, x):
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))

    model = nn.Sequential(*[Block() for _ in range(24)], nn.LayerNorm(512))
    ```
    For `nn.TransformerEncoderLayer`, pass `norm_first=True` and give the encoder
    a final `norm=nn.LayerNorm(d_model)`.

    ## Fix safety
    There is no automatic fix: moving the norm changes the architecture, needs a
    final norm after the stack, and invalidates trained weights.

    ## References
    - Xiong et al., "On Layer Normalization in the Transformer Architecture"
      (ICML 2020): post-LN needs warm-up, pre-LN does not.
    - Liu et al., "Understanding the Difficulty of Training Transformers"
      (EMNLP 2020): deeper post-LN stacks diverge without special initialisation.
    - Wang et al., "DeepNet: Scaling Transformers to 1,000 Layers" (2022).
    - [torch.nn.TransformerEncoderLayer](https://pytorch.org/docs/stable/generated/torch.nn.TransformerEncoderLayer.html)
    """

    CODE = "NNL401"
    NAME = "post-ln-in-deep-stack"
    MESSAGE = (
        "Post-LN block stacked deeply: norm(x + f(x)) trains unstably without warm-up; "
        "use pre-LN (x + f(norm(x))) with a final norm"
    )
    SEVERITY = "warning"
    # The stack usually lives in another top-level statement than the block; the
    # container names keep it when the engine parses only triggered statements, and
    # the evidence keeps loops calling a block class and the depth constants.
    NEEDS = Needs(
        (
            "ModuleList",
            "Sequential(",
            "LayerNorm",
            "RMSNorm",
            "layer_norm",
            "rms_norm",
            "TransformerEncoder",
            "TransformerDecoder",
            "Transformer(",
        ),
        evidence=stacks_and_depths,
        screen=_may_report,
    )

    VALID = [
        # Pre-LN blocks with a final norm after the stack.
        "from torch import nn\n"
        "class Block(nn.Module):\n"
        "    def __init__(self, d):\n"
        "        super().__init__()\n"
        "        self.norm1 = nn.LayerNorm(d)\n"
        "        self.attn = nn.MultiheadAttention(d, 4)\n"
        "    def forward(self, x):\n"
        "        return x + self.attn(self.norm1(x))\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, d=64):\n"
        "        super().__init__()\n"
        "        self.blocks = nn.ModuleList([Block(d) for _ in range(24)])\n"
        "        self.norm_f = nn.LayerNorm(d)\n"
        "    def forward(self, x):\n"
        "        for block in self.blocks:\n"
        "            x = x + block(x)\n"
        "        return self.norm_f(x)\n",
        # Post-LN in a shallow fixed stack (the original Transformer's 6 layers).
        "import torch.nn as tnn\n"
        "class Layer(tnn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.ln = tnn.LayerNorm(32)\n"
        "        self.ff = tnn.Linear(32, 32)\n"
        "    def forward(self, h):\n"
        "        return self.ln(h + self.ff(h))\n"
        "stack = tnn.Sequential(*[Layer() for _ in range(6)])\n",
        # A norm of a non-residual sum (token + position embeddings).
        "from torch import nn\n"
        "class Embed(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.norm = nn.LayerNorm(16)\n"
        "        self.tok = nn.Embedding(100, 16)\n"
        "        self.pos = nn.Parameter(torch.zeros(1, 8, 16))\n"
        "    def forward(self, ids):\n"
        "        return self.norm(self.tok(ids) + self.pos)\n"
        "layers = nn.ModuleList([Embed() for _ in range(12)])\n",
        # Depth from a config object: not provable.
        "from torch import nn\n"
        "class BertLikeLayer(nn.Module):\n"
        "    def __init__(self, cfg):\n"
        "        super().__init__()\n"
        "        self.LayerNorm = nn.LayerNorm(cfg.hidden)\n"
        "        self.dense = nn.Linear(cfg.hidden, cfg.hidden)\n"
        "    def forward(self, hidden):\n"
        "        return self.LayerNorm(hidden + self.dense(hidden))\n"
        "class Encoder(nn.Module):\n"
        "    def __init__(self, cfg):\n"
        "        super().__init__()\n"
        "        self.layer = nn.ModuleList(\n"
        "            [BertLikeLayer(cfg) for _ in range(cfg.num_layers)]\n"
        "        )\n",
        # Pre-LN with two sublayers: the second norm reads the first residual sum,
        # but its output only feeds the MLP branch; the sum stays the stream.
        "from torch import nn\n"
        "class TwoSublayers(nn.Module):\n"
        "    def __init__(self, d):\n"
        "        super().__init__()\n"
        "        self.n1, self.n2 = nn.LayerNorm(d), nn.LayerNorm(d)\n"
        "        self.attn, self.mlp = nn.Linear(d, d), nn.Linear(d, d)\n"
        "    def forward(self, x):\n"
        "        x = x + self.attn(self.n1(x))\n"
        "        h = self.n2(x)\n"
        "        x = x + self.mlp(h)\n"
        "        return x + self.mlp(self.n1(x))\n"
        "stack = nn.Sequential(*[TwoSublayers(32) for _ in range(12)])\n",
        # Adaptive LayerNorm (scale and shift from a condition) feeding a branch,
        # and the usual copy of the stream kept in `residual` before the norm.
        "import torch\n"
        "from torch import nn\n"
        "class AdaBlock(nn.Module):\n"
        "    def __init__(self, d):\n"
        "        super().__init__()\n"
        "        self.norm1 = nn.LayerNorm(d, elementwise_affine=False)\n"
        "        self.norm2 = nn.LayerNorm(d, elementwise_affine=False)\n"
        "        self.ada = nn.Linear(d, 2 * d)\n"
        "        self.ff = nn.Linear(d, d)\n"
        "    def forward(self, x, c):\n"
        "        scale, shift = self.ada(c).chunk(2, dim=-1)\n"
        "        x = x + self.ff(self.norm1(x))\n"
        "        modulated = self.norm2(x) * (1 + scale) + shift\n"
        "        x = x + self.ff(modulated)\n"
        "        residual = x\n"
        "        x = self.norm1(x)\n"
        "        x = self.ff(x)\n"
        "        return residual + x\n"
        "blocks = nn.ModuleList([AdaBlock(64) for _ in range(28)])\n",
        # torch's encoder with norm_first=True.
        "from torch import nn\n"
        "layer = nn.TransformerEncoderLayer(256, 8, norm_first=True)\n"
        "enc = nn.TransformerEncoder(layer, num_layers=12, norm=nn.LayerNorm(256))\n",
    ]
    INVALID = [
        Invalid(
            "from torch import nn\n"
            "class PostBlock(nn.Module):\n"
            "    def __init__(self, d):\n"
            "        super().__init__()\n"
            "        self.attn = nn.MultiheadAttention(d, 4, batch_first=True)\n"
            "        self.norm1 = nn.LayerNorm(d)\n"
            "    def forward(self, x):\n"
            "        x = self.norm1(x + self.attn(x, x, x)[0])\n"
            "        return x\n"
            "class Model(nn.Module):\n"
            "    def __init__(self, d=128, depth=12):\n"
            "        super().__init__()\n"
            "        self.blocks = nn.Sequential(\n"
            "            *[PostBlock(d) for _ in range(depth)]\n"
            "        )\n",
            line=8,
            column=13,
        ),
        Invalid(
            "import torch\n"
            "N_LAYERS = 16\n"
            "class Residual(torch.nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.mlp = torch.nn.Linear(8, 8)\n"
            "        self.post_norm = torch.nn.RMSNorm(8)\n"
            "    def forward(self, h):\n"
            "        h = h + self.mlp(h)\n"
            "        h = self.post_norm(h)\n"
            "        return h\n"
            "layers = torch.nn.ModuleList()\n"
            "for _ in range(N_LAYERS):\n"
            "    layers.append(Residual())\n",
            line=10,
            column=13,
        ),
        Invalid(
            # Through an activation, the normalised sum still replaces the stream.
            "import torch.nn.functional as F\n"
            "from torch import nn\n"
            "class PostAct(nn.Module):\n"
            "    def __init__(self, d):\n"
            "        super().__init__()\n"
            "        self.norm = nn.LayerNorm(d)\n"
            "        self.drop = nn.Dropout(0.1)\n"
            "        self.ff = nn.Linear(d, d)\n"
            "    def forward(self, x):\n"
            "        x = self.drop(F.gelu(self.norm(x + self.ff(x))))\n"
            "        return x\n"
            "tower = nn.Sequential(*[PostAct(16) for _ in range(10)])\n",
            line=10,
            column=30,
        ),
        Invalid(
            # The normalised sum is returned under a new name: it replaces the stream.
            "from torch import nn\n"
            "class Sandwich(nn.Module):\n"
            "    def __init__(self, d):\n"
            "        super().__init__()\n"
            "        self.ln = nn.LayerNorm(d)\n"
            "        self.ff = nn.Linear(d, d)\n"
            "    def forward(self, x):\n"
            "        y = x + self.ff(x)\n"
            "        out = self.ln(y)\n"
            "        return out\n"
            "tower = nn.Sequential(*[Sandwich(16) for _ in range(10)])\n",
            line=9,
            column=15,
        ),
        Invalid(
            "import torch.nn as nn\n"
            "def build(d_model=512):\n"
            "    layer = nn.TransformerEncoderLayer(d_model, 8, batch_first=True)\n"
            "    return nn.TransformerEncoder(layer, num_layers=24)\n",
            line=3,
            column=13,
        ),
        Invalid(
            "from torch import nn\n"
            "model = nn.Transformer(d_model=256, num_encoder_layers=12)\n",
            line=2,
            column=9,
        ),
    ]

    def __init__(self, context: RuleContext) -> None:
        super().__init__(context)
        self.sites: dict[str, list[cst.Call]] = {}
        # (class instantiated, class whose method instantiates it, loop multiplier)
        self.instances: list[tuple[str, str | None, int]] = []
        self.flagged: set[int] = set()
        self._classes: set[str] | None = None
        self.depths = LoopDepths(context)

    # -- post-LN blocks -------------------------------------------------------------
    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        found = post_ln_norms(class_model(self.context, node))
        if found:
            self.sites.setdefault(node.name.value, []).extend(found)

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value in self._local_classes():
            multiplier = self.depths.loop_multiplier()
            if multiplier is not None:
                owner = enclosing(self.context.ancestors, cst.ClassDef)
                owner_name = (
                    owner.name.value if isinstance(owner, cst.ClassDef) else None
                )
                self.instances.append((node.func.value, owner_name, multiplier))
            return
        kind = self.qualified_name(node.func)
        if kind in ENCODER_STACKS:
            self._check_encoder(node, kind)
        elif kind == "torch.nn.Transformer":
            self._check_transformer(node)

    def leave_Module(self, original_node: cst.Module) -> None:
        for name, calls in self.sites.items():
            depth = self._depth(name, set())
            if depth <= MAX_POST_LN_DEPTH:
                continue
            for call in calls:
                self.report(
                    call,
                    f"Post-LN block `{name}` is stacked {depth} deep: norm(x + f(x)) "
                    "trains unstably without warm-up beyond ~6 layers; use pre-LN "
                    "(x + f(norm(x))) and a final norm after the stack",
                )

    def _depth(self, name: str, seen: set[str]) -> int:
        """Provable number of copies of ``name`` run in sequence (at least 1)."""
        if name in seen:
            return 1
        best = 1
        for instance, owner, multiplier in self.instances:
            if instance == name:
                outer = self._depth(owner, seen | {name}) if owner else 1
                best = max(best, multiplier * outer)
        return best

    def _local_classes(self) -> set[str]:
        if self._classes is None:
            self._classes = {
                statement.name.value
                for statement in self.context.module.body
                if isinstance(statement, cst.ClassDef)
            }
        return self._classes

    # -- torch's own Transformer modules --------------------------------------------
    def _check_encoder(self, node: cst.Call, kind: str) -> None:
        found = post_ln_encoder(
            node, kind, self.qualified_name, self.depths, self.context
        )
        if found is not None and found[1] > MAX_POST_LN_DEPTH:
            self._report_layer(*found)

    def _check_transformer(self, node: cst.Call) -> None:
        depth = post_ln_transformer_depth(node, self.depths, self.context)
        if depth is not None and depth > MAX_POST_LN_DEPTH:
            self._report_layer(node, depth)

    def _report_layer(self, layer: cst.Call, depth: int) -> None:
        if id(layer) in self.flagged:
            return
        self.flagged.add(id(layer))
        self.report(
            layer,
            f"Post-LN Transformer layers (norm_first=False) stacked {depth} deep: "
            "unstable without warm-up beyond ~6 layers; pass norm_first=True and "
            "give the stack a final norm",
        )
