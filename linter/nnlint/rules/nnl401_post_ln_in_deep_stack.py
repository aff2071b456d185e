"""NNL401: post-LN residual blocks (``norm(x + f(x))``) stacked deeply."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import libcst as cst

from nnlint import norm_support as ns
from nnlint.prefilter import construction_calls
from nnlint.rules.base import Invalid, Rule, RuleContext
from nnlint.walk import iter_children

# A module-level integer constant (``N_LAYERS = 16``, also ``A = B = 16``).
_DEPTH_CONSTANT = r"(?m:^\w+(?:[ \t]*=[ \t]*\w+)*[ \t]*(?::[^=\n]*)?=[ \t]*\d)"


def _stacks_and_depths(hit: str) -> re.Pattern[str]:
    """Statements that may stack a block defined in ``hit`` (they call it by name)
    or give a loop its length (module-level integer constants)."""
    return re.compile(rf"{construction_calls(hit).pattern}|{_DEPTH_CONSTANT}")


# The original Transformer trained 6 post-LN layers (with warm-up); deeper post-LN
# stacks are where divergence without warm-up is documented (see the docstring).
MAX_POST_LN_DEPTH = 6
_FUNCTIONAL_NORMS = frozenset(
    {"torch.nn.functional.layer_norm", "torch.nn.functional.rms_norm"}
)
# Reading only these from a tensor does not make a value depend on its contents.
_SHAPE_ATTRS = frozenset({"shape", "device", "dtype", "ndim", "size", "dim"})


def _reads(expr: cst.CSTNode) -> tuple[set[str], bool]:
    """Variables an expression reads (not attribute names, keywords or shapes), and
    whether it calls anything."""
    names: set[str] = set()
    has_call = False
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            if node.value != "self":
                names.add(node.value)
        elif isinstance(node, cst.Attribute):
            if node.attr.value not in _SHAPE_ATTRS:
                stack.append(node.value)
        elif isinstance(node, cst.Arg):
            stack.append(node.value)
        else:
            has_call = has_call or isinstance(node, cst.Call)
            stack.extend(iter_children(node))
    return names, has_call


def _addends(expr: cst.BaseExpression) -> list[cst.BaseExpression]:
    """``[a, b, c]`` for ``a + b + c`` (iterative: long chains are not deep calls)."""
    found: list[cst.BaseExpression] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
            stack.extend((node.right, node.left))
        else:
            found.append(node)
    return found


@dataclass(frozen=True)
class _Value:
    """What a local variable holds: the variables it was computed from."""

    depends_on: frozenset[str]
    computed: bool  # went through a call (a module or function), not just arithmetic
    residual: bool  # is itself a residual sum ``x + f(x)``


class _MethodScan:
    """Walks one method in order, tracking locals, and collects post-LN norm calls."""

    def __init__(self, norms: set[str], resolve: ns.Resolve) -> None:
        self.norms = norms
        self.resolve = resolve
        self.values: dict[str, _Value] = {}
        self.sites: list[cst.Call] = []

    def run(self, body: cst.BaseSuite) -> list[cst.Call]:
        self._suite(body)
        return self.sites

    def _suite(self, suite: cst.BaseSuite) -> None:
        statements = suite.body if isinstance(suite, cst.IndentedBlock) else [suite]
        for statement in statements:
            if isinstance(
                statement, cst.SimpleStatementLine | cst.SimpleStatementSuite
            ):
                for small in statement.body:
                    self._small(small)
            elif isinstance(statement, cst.BaseCompoundStatement) and not isinstance(
                statement, cst.FunctionDef | cst.ClassDef
            ):
                before = dict(self.values)
                for block in _blocks(statement):
                    self._suite(block)
                if isinstance(statement, cst.For | cst.While):
                    self._forget_loop_sums(before)

    def _forget_loop_sums(self, before: dict[str, _Value]) -> None:
        """A sum accumulated by a loop is the output of a stack of blocks: a norm
        after the loop is a final norm, not a post-LN block."""
        for name, value in self.values.items():
            if value.residual and before.get(name) is not value:
                self.values[name] = replace(value, residual=False)

    def _small(self, small: cst.BaseSmallStatement) -> None:
        for call in ns.descendants(small):
            if not isinstance(call, cst.Call) or not self._is_norm(call):
                continue
            if self._is_residual_input(ns.first_arg(call)):
                self.sites.append(call)
        if isinstance(small, cst.Assign):
            value = self._describe(small.value)
            for target in small.targets:
                for name in _target_names(target.target):
                    self.values[name] = value
        elif isinstance(small, cst.AugAssign) and isinstance(small.target, cst.Name):
            self._add_in_place(small.target.value, small)

    def _add_in_place(self, name: str, small: cst.AugAssign) -> None:
        """``x += f(x)`` is a residual add like ``x = x + f(x)``."""
        branch = self._describe(small.value, residual=False)
        known = self.values.get(name)
        depends = branch.depends_on | {name} | (known.depends_on if known else set())
        residual = (
            isinstance(small.operator, cst.AddAssign)
            and branch.computed
            and name in branch.depends_on
        )
        computed = branch.computed or (known is not None and known.computed)
        self.values[name] = _Value(frozenset(depends), computed, residual)

    def _is_norm(self, call: cst.Call) -> bool:
        attr = ns.is_self_attr(call.func)
        if attr is not None:
            return attr in self.norms
        return self.resolve(call.func) in _FUNCTIONAL_NORMS

    def _is_residual_input(self, arg: cst.BaseExpression | None) -> bool:
        if isinstance(arg, cst.Name):
            known = self.values.get(arg.value)
            return known is not None and known.residual
        return arg is not None and self._is_residual(arg)

    def _describe(self, expr: cst.BaseExpression, residual: bool = True) -> _Value:
        names, computed = _reads(expr)
        depends = set(names)
        for name in names:
            known = self.values.get(name)
            if known is not None:
                depends |= known.depends_on
                computed = computed or known.computed
        return _Value(
            frozenset(depends), computed, residual and self._is_residual(expr)
        )

    def _is_residual(self, expr: cst.BaseExpression) -> bool:
        """``h + f(h)``: one addend is a variable the other was computed from."""
        addends = _addends(expr)
        for skip in addends:
            if not isinstance(skip, cst.Name):
                continue
            for branch in addends:
                if branch is skip:
                    continue
                value = self._describe(branch, residual=False)
                if value.computed and skip.value in value.depends_on:
                    return True
        return False


def _blocks(node: cst.CSTNode) -> list[cst.BaseSuite]:
    """The statement blocks of a compound statement (``elif``/``else``/handlers too)."""
    found: list[cst.BaseSuite] = []
    for child in iter_children(node):
        if isinstance(child, cst.BaseSuite):
            found.append(child)
        elif isinstance(
            child,
            cst.If | cst.Else | cst.ExceptHandler | cst.ExceptStarHandler | cst.Finally,
        ):
            found.extend(_blocks(child))
    return found


def _target_names(target: cst.BaseExpression) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, cst.Tuple | cst.List):
        return [
            name for element in target.elements for name in _target_names(element.value)
        ]
    return []


_LAYERS = {
    "torch.nn.TransformerEncoder": (
        "encoder_layer",
        "torch.nn.TransformerEncoderLayer",
    ),
    "torch.nn.TransformerDecoder": (
        "decoder_layer",
        "torch.nn.TransformerDecoderLayer",
    ),
}


# (position, keyword) of each stack's depth, and the position of its custom module.
_TRANSFORMER_STACKS = ((2, "num_encoder_layers", 7), (3, "num_decoder_layers", 8))


def _post_ln_flag(value: cst.BaseExpression | None) -> bool:
    """``norm_first`` left at its default or set to a literal False."""
    return value is None or (isinstance(value, cst.Name) and value.value == "False")


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
    Transformer). Pre-LN blocks (`x = x + self.attn(self.norm(x))`) with a final
    norm after the stack, and norms of non-residual sums such as
    `self.norm(x + self.pos_embed)`, are not post-LN.

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
    TRIGGERS = (
        "ModuleList",
        "Sequential(",
        "LayerNorm",
        "RMSNorm",
        "layer_norm",
        "rms_norm",
        "TransformerEncoder",
        "TransformerDecoder",
        "Transformer(",
    )
    EVIDENCE = staticmethod(_stacks_and_depths)

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
        self._constants: dict[str, int] | None = None

    # -- post-LN blocks -------------------------------------------------------------
    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        facts = ns.class_facts(node, self.qualified_name, self.context.module)
        table = facts.table
        norms = {name for name in table.members if table.kind(name) in ns.LAYER_NORM}
        if not norms and not any(
            self.qualified_name(call.func) in _FUNCTIONAL_NORMS
            for index in facts.indexes
            for call in index.calls
        ):
            return  # no norm in this class: nothing to scan
        found: list[cst.Call] = []
        for method in ns.methods(node):
            found.extend(_MethodScan(norms, self.qualified_name).run(method.body))
        if found:
            self.sites.setdefault(node.name.value, []).extend(found)

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value in self._local_classes():
            multiplier = self._loop_multiplier()
            if multiplier is not None:
                owner = ns.enclosing(self.context.ancestors, cst.ClassDef)
                owner_name = (
                    owner.name.value if isinstance(owner, cst.ClassDef) else None
                )
                self.instances.append((node.func.value, owner_name, multiplier))
            return
        kind = self.qualified_name(node.func)
        if kind in _LAYERS:
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

    # -- loop depth -----------------------------------------------------------------
    def _loop_multiplier(self) -> int | None:
        """Product of the ``range(N)`` loops around the current node; None if a loop
        runs an unknown number of times."""
        ancestors = self.context.ancestors
        scope = ns.enclosing(ancestors, cst.FunctionDef)
        total = 1
        for outer, inner in zip(ancestors, ancestors[1:], strict=False):
            count: int | None = 1
            if isinstance(outer, cst.For) and inner is outer.body:
                count = self._range_length(outer.iter, scope)
            elif isinstance(outer, cst.ListComp | cst.GeneratorExp | cst.SetComp):
                if inner is outer.elt:
                    count = self._comprehension_length(outer.for_in, scope)
            if count is None:
                return None
            total *= count
        return total

    def _comprehension_length(
        self, clause: cst.CompFor | None, scope: cst.CSTNode | None
    ) -> int | None:
        total = 1
        while clause is not None:
            if clause.ifs:
                return None  # a filter makes the count unknowable
            count = self._range_length(clause.iter, scope)
            if count is None:
                return None
            total *= count
            clause = clause.inner_for_in
        return total

    def _range_length(
        self, expr: cst.BaseExpression, scope: cst.CSTNode | None
    ) -> int | None:
        if not (isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name)):
            return None
        if expr.func.value != "range" or ns.has_star_args(expr):
            return None
        bounds = [self._integer(arg.value, scope) for arg in expr.args]
        if len(bounds) == 1:
            return bounds[0]
        if len(bounds) == 2 and bounds[0] is not None and bounds[1] is not None:
            return max(bounds[1] - bounds[0], 0)
        return None

    def _integer(
        self, expr: cst.BaseExpression, scope: cst.CSTNode | None
    ) -> int | None:
        """A literal, a parameter's integer default, or a module-level constant."""
        if isinstance(expr, cst.Integer):
            return int(expr.value, 0)
        if not isinstance(expr, cst.Name):
            return None
        if isinstance(scope, cst.FunctionDef):
            params = scope.params
            for param in [
                *params.params,
                *params.kwonly_params,
                *params.posonly_params,
            ]:
                if param.name.value == expr.value:
                    default = param.default
                    return (
                        int(default.value, 0)
                        if isinstance(default, cst.Integer)
                        else None
                    )
        return self._module_constants().get(expr.value)

    def _module_constants(self) -> dict[str, int]:
        if self._constants is None:
            self._constants = {}
            for statement in self.context.module.body:
                small = (
                    statement.body[0]
                    if isinstance(statement, cst.SimpleStatementLine)
                    else None
                )
                if isinstance(small, cst.Assign | cst.AnnAssign) and isinstance(
                    small.value, cst.Integer
                ):
                    targets = (
                        [t.target for t in small.targets]
                        if isinstance(small, cst.Assign)
                        else [small.target]
                    )
                    for target in targets:
                        if isinstance(target, cst.Name):
                            self._constants[target.value] = int(small.value.value, 0)
        return self._constants

    # -- torch's own Transformer modules --------------------------------------------
    def _check_encoder(self, node: cst.Call, kind: str) -> None:
        keyword, layer_kind = _LAYERS[kind]
        if any(arg.star == "**" for arg in node.args):
            return
        scope = ns.enclosing(self.context.ancestors, cst.FunctionDef)
        layer = ns.argument(node, 0, keyword)
        if isinstance(layer, cst.Name):
            layer = ns.bound_call(scope or self.context.module, layer.value)[0]
        if (
            not isinstance(layer, cst.Call)
            or self.qualified_name(layer.func) != layer_kind
        ):
            return
        if any(arg.star == "**" for arg in layer.args):
            return
        depth = self._integer_arg(node, 1, "num_layers", scope)
        if depth is not None and depth > MAX_POST_LN_DEPTH:
            if _post_ln_flag(ns.argument(layer, 7, "norm_first")):
                self._report_layer(layer, depth)

    def _check_transformer(self, node: cst.Call) -> None:
        if any(arg.star == "**" for arg in node.args):
            return
        if not _post_ln_flag(ns.argument(node, 11, "norm_first")):
            return
        scope = ns.enclosing(self.context.ancestors, cst.FunctionDef)
        depths = []
        for position, name, custom in _TRANSFORMER_STACKS:
            if ns.argument(node, custom, f"custom_{name[4:-7]}") is not None:
                continue  # a user-supplied encoder/decoder: its layers are unknown
            if ns.argument(node, position, name) is None:
                depths.append(6)  # torch's default
            else:
                depths.append(self._integer_arg(node, position, name, scope) or 0)
        if depths and max(depths) > MAX_POST_LN_DEPTH:
            self._report_layer(node, max(depths))

    def _integer_arg(
        self, node: cst.Call, position: int, name: str, scope: cst.CSTNode | None
    ) -> int | None:
        value = ns.argument(node, position, name)
        return self._integer(value, scope) if value is not None else None

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
