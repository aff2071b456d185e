from __future__ import annotations

import re
from typing import ClassVar, NamedTuple

import libcst as cst

from nnlint.analysis.names import ImportMap
from nnlint.analysis.tensor_flow import (
    NOTHING,
    SOFTMAX_FUNCTIONS,
    Facts,
    FlowWalker,
    Tag,
    functions,
)
from nnlint.analysis.walk import walk
from nnlint.rules.base import Invalid, Rule

_SCALED: Tag = ("scaled", None)
_MATMULS = frozenset({"torch.matmul", "torch.bmm", ".matmul", ".bmm"})
_SCALING_CALLS = frozenset(
    {
        "torch.mul", "torch.div", "torch.true_divide", "torch.nn.functional.normalize",
        ".mul", ".mul_", ".div", ".div_", ".true_divide",
    }
)  # fmt: skip
_NORMALIZE = "torch.nn.functional.normalize"
_SDPA = "torch.nn.functional.scaled_dot_product_attention"
_DEFINED = re.compile(r"\bdef[ \t]+(\w+)")


def _evidence(hit: str) -> re.Pattern[str]:
    """Statements holding an initialiser call (``normal_``, ...), an L2
    normalisation (a helper norm class) or a call of a function defined in the hit
    statements."""
    names = sorted(set(_DEFINED.findall(hit)) - {"__init__", "forward"})
    calls = [rf"\b{re.escape(name)}\s*\(" for name in names]
    return re.compile("|".join([r"(?:normal|uniform)_\s*\(|normalize\s*\(", *calls]))


_INITS = ("normal_", "uniform_", "trunc_normal_", "xavier_normal_")


class UnscaledAttentionScores(Rule):
    """## What it does
    Finds hand-written dot-product attention whose scores are not scaled before the
    softmax: `softmax(q @ k.transpose(-2, -1)) @ v` (also with `torch.matmul`,
    `torch.bmm`, `torch.baddbmm` without `alpha`, or a two-operand `torch.einsum`)
    where nothing multiplies or divides the scores, `q` or `k` on the way. Only the
    attention shape is judged: the softmax output must itself be multiplied with a
    third tensor (the values), so a similarity softmax that is not attention is left
    alone.

    ## Why is this bad?
    With unit-variance queries and keys of width `d`, each dot product has variance
    `d`. For `d = 64` the logits have a standard deviation of 8, the softmax
    saturates onto one key, its gradient almost vanishes and heads collapse early in
    training. Dividing by `sqrt(d)` keeps the logits at unit variance; that is the
    "scaled" in scaled dot-product attention.

    The scale may live elsewhere, and then nothing is reported: multiplied into `q`
    or `k` before the product, applied to the scores as a `scale`, `temperature` or
    learned logit scale (any multiplication or division counts, since its value is
    not known statically), cosine attention (`F.normalize` on `q` or `k`), or
    `F.scaled_dot_product_attention`, which scales by default and is never matched.
    T5-style attention deliberately leaves the scores unscaled and folds the factor
    into the query projection's initialisation; when the file initialises the
    projection that produced `q` or `k` with an inverse-square-root standard
    deviation, the rule stays silent (it cannot tell a folded scale from a plain
    fan-in initialisation there, so it gives the benefit of the doubt). An additive
    bias or mask on the scores does not count as scaling.

    ## Example
    ```python
    scores = q @ k.transpose(-2, -1)
    out = scores.softmax(dim=-1) @ v
    ```

    ## Use instead
    ```python
    scores = q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5
    out = scores.softmax(dim=-1) @ v
    # or: out = F.scaled_dot_product_attention(q, k, v)
    ```

    ## Fix safety
    There is no automatic fix: where the scale belongs (scores, `q`, or the
    initialisation) is the author's choice.

    ## References
    - [Vaswani et al., Attention Is All You Need (2017), section 3.2.1](https://arxiv.org/abs/1706.03762)
    - [torch.nn.functional.scaled_dot_product_attention](https://pytorch.org/docs/stable/generated/torch.nn.functional.scaled_dot_product_attention.html)
    - [Raffel et al., T5 (2020)](https://arxiv.org/abs/1910.10683): the scale is
      folded into the query initialisation
    """

    CODE = "NNL703"
    NAME = "unscaled-attention-scores"
    MESSAGE = (
        "attention scores reach the softmax without the 1/sqrt(d) scale: the softmax "
        "saturates and heads collapse"
    )
    SEVERITY = "warning"
    TRIGGERS = ("softmax", "Softmax")
    # Read from other statements: the initialisation that may carry a folded scale
    # (often in a base class), and the callers that may scale q or k for a helper.
    EVIDENCE = staticmethod(_evidence)

    def visit_Module(self, node: cst.Module) -> None:
        attributes = _Attributes(
            _init_scaled_attributes(node),
            _softmax_attributes(node),
            _normalising_attributes(node, self.context.imports),
        )
        judged = [f for f in functions(node) if not self._sdpa_with_scale(f)]
        seeds = _caller_scales(self, judged, attributes)
        for function in judged:
            walker = _ScoreWalker(self, attributes)
            walker.run(function, seeds.get(function))
            for matmul in dict.fromkeys(walker.found):
                self.report(matmul)

    def _sdpa_with_scale(self, function: cst.FunctionDef) -> bool:
        """The function also calls ``F.scaled_dot_product_attention`` with an
        explicit ``scale``: its hand-written path is a fallback computing the same
        thing, and the scale was chosen on purpose (``scale=1.0`` with QK-norm)."""
        for call in walk(function):
            if isinstance(call, cst.Call) and self.qualified_name(call.func) == _SDPA:
                if any(a.keyword and a.keyword.value == "scale" for a in call.args):
                    return True
        return False

    VALID: ClassVar[list[str]] = [
        # Scaled scores, scale folded into q, and a temperature.
        """\
import torch

def attention(q, k, v, scale):
    a = (q @ k.transpose(-2, -1)) * scale
    out = a.softmax(dim=-1) @ v
    q = q * q.shape[-1] ** -0.5
    b = torch.matmul(q, k.transpose(-1, -2))
    out2 = torch.matmul(b.softmax(-1), v)
    c = torch.einsum("bid,bjd->bij", q, k) / 0.07
    return out, out2, torch.einsum("bij,bjd->bid", c.softmax(-1), v)
""",
        # Cosine attention with a learned logit scale (Swin v2), and SDPA.
        """\
import torch
import torch.nn.functional as F
from torch import nn

class CosineAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.logit_scale = nn.Parameter(torch.zeros(4, 1, 1))

    def forward(self, q, k, v):
        attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
        attn = attn * torch.clamp(self.logit_scale, max=4.6).exp()
        attn = F.softmax(attn, dim=-1)
        return attn @ v, F.scaled_dot_product_attention(q, k, v)
""",
        # T5-style: the scale is folded into the query projection's initialisation.
        """\
import torch
from torch import nn

class Attention(nn.Module):
    def __init__(self, d_model, d_kv):
        super().__init__()
        self.q = nn.Linear(d_model, d_kv, bias=False)
        self.k = nn.Linear(d_model, d_kv, bias=False)
        nn.init.normal_(self.q.weight, std=(d_model * d_kv) ** -0.5)

    def forward(self, x, v, position_bias):
        scores = torch.matmul(self.q(x), self.k(x).transpose(1, 2))
        scores += position_bias
        return torch.softmax(scores.float(), dim=-1).type_as(scores) @ v
""",
        # Softmax over similarities that are not attention (no values multiplied),
        # and scores scaled in place.
        """\
import torch

def assign(x, centroids, q, k, v):
    probs = torch.softmax(x @ centroids.T, dim=-1)
    s = q @ k.transpose(-2, -1)
    s.mul_(0.125)
    return probs, s.softmax(-1) @ v
""",
        # The fused path states its scale (1.0 with QK-norm): the fallback mirrors it.
        """\
import torch.nn.functional as F

def attend(q, k, v, fused):
    if fused:
        return F.scaled_dot_product_attention(q, k, v, scale=1.0)
    return (q @ k.transpose(-2, -1)).softmax(-1) @ v
""",
        # The caller scales q; partial rotary embedding splits and re-joins q.
        """\
import torch
from torch import nn

class Attention(nn.Module):
    def forward(self, x, rot):
        q = self.q(x) * self.scale
        q_rot, q_pass = (q[..., :rot], q[..., rot:])
        q = torch.cat((rotate(q_rot), q_pass), dim=-1)
        return self.attend(q, self.k(x), self.v(x))

    def attend(self, q, k, v):
        return torch.softmax(torch.einsum("bid,bjd->bij", q, k), -1) @ v
""",
        # Cosine attention behind a helper norm module with a learned gain.
        """\
import torch
import torch.nn.functional as F
from torch import nn

class L2Norm(nn.Module):
    def forward(self, x):
        return F.normalize(x, dim=-1) * self.gain

class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_norm = L2Norm()

    def forward(self, q, k, v):
        return torch.matmul(self.q_norm(q), k.mT).softmax(-1) @ v
""",
    ]
    INVALID: ClassVar[list[Invalid]] = [
        Invalid(
            """\
import torch

def attention(query, key, value):
    scores = torch.matmul(query, key.transpose(-2, -1))
    p_attn = scores.softmax(dim=-1)
    return torch.matmul(p_attn, value)
""",
            line=4,
            column=14,
        ),
        Invalid(
            """\
import torch.nn.functional as F
from torch import nn

class Attention(nn.Module):
    def __init__(self, dim, heads=8):
        super().__init__()
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        attn = q @ k.transpose(-2, -1)
        attn = attn.masked_fill(x.new_zeros(()).bool(), float("-inf"))
        attn = self.drop(F.softmax(attn, dim=-1))
        return attn @ v
""",
            line=13,
            column=16,
        ),
        Invalid(
            """\
import torch
from torch import nn

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, q, k, v):
        w = self.softmax(torch.einsum("bhid,bhjd->bhij", q, k))
        return torch.einsum("bhij,bhjd->bhid", w, v)
""",
            line=10,
            column=26,
        ),
        # The fused path scales by default; the fallback forgot to.
        Invalid(
            """\
import torch.nn.functional as F

def attend(q, k, v, fused):
    if fused:
        return F.scaled_dot_product_attention(q, k, v)
    return F.softmax(q @ k.transpose(-2, -1), dim=-1) @ v
""",
            line=6,
            column=22,
        ),
    ]


class _Attributes(NamedTuple):
    """``self.<attr>`` names that matter to the walk, collected once per file."""

    folded: set[str]  # projections initialised with an inverse square root
    softmaxes: set[str]  # nn.Softmax modules
    normalising: set[str]  # modules of a file class whose forward L2-normalises


class _ScoreWalker(FlowWalker):
    """Facts: ``scores`` (an unscaled q·k product), ``weights`` (their softmax),
    ``scaled``, and ``proj`` (the output of a ``self.<attr>`` module)."""

    def __init__(self, rule: Rule, attributes: _Attributes) -> None:
        super().__init__(rule.context.imports)
        self.folded = attributes.folded
        self.softmaxes = attributes.softmaxes
        self.normalising = attributes.normalising
        self.found: list[cst.CSTNode] = []
        # Calls of plain functions and of ``self.<method>``, with their arguments'
        # facts: a scale applied by the caller reaches the callee's parameters.
        self.calls: list[tuple[cst.Call, list[Facts]]] = []

    def on_call(self, node: cst.Call, name: str | None, args: list[Facts]) -> Facts:
        first = args[0] if args else NOTHING
        if name is None or not name.startswith("."):
            self.calls.append((node, args))
        if name in SOFTMAX_FUNCTIONS or name == ".softmax":
            return _softmax(first)
        if name in _MATMULS and len(args) >= 2:
            return self.product(node, args[0], args[1])
        if name == "torch.einsum" and len(args) == 3:
            return self.product(node, args[1], args[2])
        if name == "torch.einsum":
            self.consume(args[1:])
            return NOTHING
        if name == "torch.baddbmm" and len(args) >= 3:
            if any(a.keyword and a.keyword.value == "alpha" for a in node.args):
                return frozenset({_SCALED})
            return self.product(node, args[1], args[2])
        if name in _SCALING_CALLS:
            return frozenset({_SCALED, *_only(first, "weights")})
        if name is None and _self_attribute(node.func):
            return self.module_call(node, first)
        passed = super().on_call(node, name, args)
        if passed:
            return passed
        # Any other call (a rotary embedding, ``.mean``, a reshape helper) keeps
        # only "scaled" and "proj" of what it is given: a scale applied before it
        # is never forgotten, and it never creates scores.
        return frozenset(t for a in args for t in a if t[0] in ("scaled", "proj"))

    def module_call(self, node: cst.Call, first: Facts) -> Facts:
        attribute = node.func
        assert isinstance(attribute, cst.Attribute)
        if attribute.attr.value in self.softmaxes:
            return _softmax(first)
        if attribute.attr.value in self.normalising:
            return frozenset({_SCALED})
        # A submodule keeps attention weights (dropout) and a scale applied before
        # it; its output is tagged with the attribute for the initialisation check.
        kept = {t for t in first if t[0] in ("weights", "scaled")}
        return frozenset({("proj", attribute), *kept})

    def on_binary(self, node: cst.BinaryOperation, left: Facts, right: Facts) -> Facts:
        if isinstance(node.operator, cst.MatrixMultiply):
            return self.product(node, left, right)
        if isinstance(node.operator, cst.Multiply | cst.Divide):
            return frozenset({_SCALED, *_only(left | right, "weights")})
        return super().on_binary(node, left, right)

    def element(self, facts: Facts, index: int) -> Facts:
        return _only(facts, "scaled")

    def on_statement(self, node: cst.CSTNode, env: dict[str, Facts]) -> None:
        # ``scores.mul_(scale)`` / ``scores.div_(t)`` scale the tensor in place.
        call = node.value if isinstance(node, cst.Expr) else None
        if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute):
            receiver = call.func.value
            if call.func.attr.value in ("mul_", "div_") and isinstance(
                receiver, cst.Name
            ):
                env[receiver.value] = frozenset({_SCALED})

    def product(self, node: cst.CSTNode, left: Facts, right: Facts) -> Facts:
        if self.consume([left, right]):
            return NOTHING
        if _SCALED in left or _SCALED in right:
            return NOTHING
        for tag in left | right:
            if tag[0] == "proj" and isinstance(tag[1], cst.Attribute):
                if tag[1].attr.value in self.folded:
                    return NOTHING
        return frozenset({("scores", node)})

    def consume(self, operands: list[Facts]) -> bool:
        """Attention weights multiplied with the values: the pattern is complete."""
        weights = [tag[1] for facts in operands for tag in facts if tag[0] == "weights"]
        self.found.extend(node for node in weights if node is not None)
        return bool(weights)


def _caller_scales(
    rule: Rule, judged: list[cst.FunctionDef], attributes: _Attributes
) -> dict[cst.FunctionDef, dict[str, Facts]]:
    """Parameters that some call site in the file passes a scaled tensor to
    (``self._attend(q * self.scale, k, v)``), as seeds for the callee's walk;
    repeated so that a scale passed through two helpers arrives too."""
    by_name: dict[str, list[cst.FunctionDef]] = {}
    for function in judged:
        by_name.setdefault(function.name.value, []).append(function)
    seeds: dict[cst.FunctionDef, dict[str, Facts]] = {}
    for _ in range(3):
        before = sum(len(s) for s in seeds.values())
        for function in judged:
            walker = _ScoreWalker(rule, attributes)
            walker.run(function, seeds.get(function))
            for call, args in walker.calls:
                for callee in by_name.get(_callee_name(call.func) or "", ()):
                    for param in _scaled_params(call, args, callee):
                        seeds.setdefault(callee, {})[param] = frozenset({_SCALED})
        if sum(len(s) for s in seeds.values()) == before:
            break
    return seeds


def _callee_name(func: cst.BaseExpression) -> str | None:
    if isinstance(func, cst.Name):
        return func.value
    if isinstance(func, cst.Attribute) and _self_attribute(func):
        return func.attr.value
    return None


def _scaled_params(
    call: cst.Call, args: list[Facts], callee: cst.FunctionDef
) -> list[str]:
    """Names of ``callee``'s parameters that receive a scaled argument."""
    params = [p.name.value for p in callee.params.params]
    if params and params[0] in ("self", "cls"):
        params = params[1:]
    keywords = {
        p.name.value for p in (*callee.params.params, *callee.params.kwonly_params)
    }
    found = []
    for index, (arg, facts) in enumerate(zip(call.args, args, strict=True)):
        if _SCALED not in facts or arg.star:
            continue
        if arg.keyword is not None and arg.keyword.value in keywords:
            found.append(arg.keyword.value)
        elif arg.keyword is None and index < len(params):
            found.append(params[index])
    return found


def _softmax(facts: Facts) -> Facts:
    return frozenset(("weights", tag[1]) for tag in facts if tag[0] == "scores")


def _only(facts: Facts, kind: str) -> Facts:
    return frozenset(tag for tag in facts if tag[0] == kind)


def _self_attribute(node: cst.BaseExpression) -> bool:
    return (
        isinstance(node, cst.Attribute)
        and isinstance(node.value, cst.Name)
        and node.value.value == "self"
    )


def _softmax_attributes(module: cst.Module) -> set[str]:
    """``self.<name> = nn.Softmax(...)`` anywhere in the file."""
    return _attributes_built_by(module, {"Softmax"})


def _normalising_attributes(module: cst.Module, imports: ImportMap) -> set[str]:
    """``self.<name> = Norm(...)`` where ``Norm`` is a class of this file whose
    ``forward`` calls ``F.normalize``: cosine attention behind a helper module (a
    learned gain on unit vectors), whose logits stay bounded."""
    classes = set()
    for node in walk(module):
        if not isinstance(node, cst.ClassDef):
            continue
        for item in walk(node):
            if isinstance(item, cst.FunctionDef) and item.name.value == "forward":
                if any(
                    isinstance(c, cst.Call) and imports.resolve(c.func) == _NORMALIZE
                    for c in walk(item)
                ):
                    classes.add(node.name.value)
    return _attributes_built_by(module, classes)


def _attributes_built_by(module: cst.Module, names: set[str]) -> set[str]:
    found = set()
    for node in walk(module):
        if isinstance(node, cst.Assign) and isinstance(node.value, cst.Call):
            func = node.value.func
            if isinstance(func, cst.Attribute | cst.Name) and _ends(func, *names):
                for target in node.targets:
                    if _self_attribute(target.target):
                        assert isinstance(target.target, cst.Attribute)
                        found.add(target.target.attr.value)
    return found


_INVERSE_SQRT = re.compile(r"\*\*\s*\(?\s*-\s*0?\.5|rsqrt|/\s*(?:math\.|np\.)?sqrt")


def _init_scaled_attributes(module: cst.Module) -> set[str]:
    """Attributes whose ``.weight`` an initialiser call sets with an inverse square
    root in its arguments: ``nn.init.normal_(self.q.weight, std=d ** -0.5)`` or
    ``module.q.weight.data.normal_(std=...)`` gives ``q``."""
    found = set()
    for node in walk(module):
        if not isinstance(node, cst.Call) or not _ends(node.func, *_INITS):
            continue
        text = module.code_for_node(node)
        if not _INVERSE_SQRT.search(text):
            continue
        for match in re.finditer(r"\.(\w+)\.weight\b", text):
            found.add(match.group(1))
    return found


def _ends(func: cst.BaseExpression, *names: str) -> bool:
    if isinstance(func, cst.Name):
        return func.value in names
    return isinstance(func, cst.Attribute) and func.attr.value in names
