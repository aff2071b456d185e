from __future__ import annotations

import ast
import re
from typing import ClassVar

import libcst as cst

from nnlint.analysis.attention_scores import (
    Attributes,
    FileIndex,
    ScoreWalker,
    caller_scales,
    file_attributes,
    sdpa_with_scale,
    softmax_attributes,
)
from nnlint.analysis.names import ImportMap
from nnlint.analysis.tensor_flow import Facts
from nnlint.rules.base import Invalid, RuleContext
from nnlint.rules.function_scan import FunctionScanRule
from nnlint.rules.needs import Needs
from nnlint.rules.screens import summary

_DEFINED = re.compile(r"\bdef[ \t]+(\w+)")


def _evidence(hit: str) -> re.Pattern[str]:
    """Statements holding an initialiser call (``normal_``, ...), an L2
    normalisation (a helper norm class) or a call of a function defined in the hit
    statements."""
    names = sorted(set(_DEFINED.findall(hit)) - {"__init__", "forward"})
    calls = [rf"\b{re.escape(name)}\s*\(" for name in names]
    return re.compile("|".join([r"(?:normal|uniform)_\s*\(|normalize\s*\(", *calls]))


# The last names of the products the score walker knows; ``Softmax`` builds the
# module another statement's attention may apply (``self.softmax = nn.Softmax()``
# in a base class), which the finding there needs.
_PRODUCTS = frozenset({"matmul", "bmm", "baddbmm", "einsum", "Softmax"})


def _multiplies(statement: ast.stmt) -> bool:
    """A finding points at the product of softmax weights and values: a ``@`` or
    a call spelled like one of the products above."""
    found = summary(statement)
    return ast.MatMult in found.operators or not found.called.isdisjoint(_PRODUCTS)


class UnscaledAttentionScores(FunctionScanRule):
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
    not known statically), cosine attention (`F.normalize` on `q` or `k`), a `tanh`
    on the way (additive attention `v^T tanh(Wx)`, or bounded logits), or
    `F.scaled_dot_product_attention`, which scales by default and is never matched.
    A hand-written path beside an SDPA call that states its `scale` explicitly (in
    the same function, or in another method of the same class: the eager and fused
    twins of one attention, picked at run time) mirrors that stated choice.
    T5-style attention deliberately leaves the scores unscaled and folds the factor
    into the query projection's initialisation; when the file initialises the
    projection that produced `q` or `k` with an inverse-square-root standard
    deviation, the rule stays silent (it cannot tell a folded scale from a plain
    fan-in initialisation there, so it gives the benefit of the doubt). An additive
    bias or mask on the scores does not count as scaling. A helper taking `q` and
    `k` as parameters is judged with the scales its callers *in the same file* apply;
    callers elsewhere are not seen (suppress with `# noqa: NNL703` there). Scores
    passed through a function the rule cannot read are not followed. In graph mode,
    NNL618 sees the same pattern through helpers and loops.

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
    NAMES = frozenset({"softmax"})
    # Read from other statements (the evidence): the initialisation that may carry a
    # folded scale (often in a base class), and the callers that may scale q or k for
    # a helper.
    NEEDS = Needs(("softmax", "Softmax"), evidence=_evidence, screen=_multiplies)

    def __init__(self, context: RuleContext) -> None:
        super().__init__(context)
        self.index = FileIndex([], [], [], [])
        # ``self.<attr>`` names each function reads (an ``nn.Softmax`` module).
        self.reads: dict[cst.FunctionDef, set[str]] = {}

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        super().visit_FunctionDef(node)
        self.index.functions.append(node)
        self.reads[node] = set()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.index.classes.append(node)

    def visit_Assign(self, node: cst.Assign) -> None:
        self.index.add_assign(node)

    def visit_Call(self, node: cst.Call) -> None:
        self.index.add_call(node)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        super().visit_Attribute(node)
        value = node.value
        if self.open and isinstance(value, cst.Name) and value.value == "self":
            for function in self.open:
                self.reads[function].add(node.attr.value)

    def judge(self, module: cst.Module, functions: list[cst.FunctionDef]) -> None:
        imports = self.context.imports
        softmaxes = softmax_attributes(self.index)
        candidates = [
            f
            for f in self.index.functions
            if f in self.hits or self.reads[f] & softmaxes
        ]
        # The other file facts and the callers' scales only ever remove findings:
        # they are worked out only for functions that report without them.
        bare = Attributes(set(), softmaxes, set())
        suspects = [f for f in candidates if _found(imports, f, bare, None)]
        if not suspects:
            return
        attributes = file_attributes(module, imports, self.index)
        seeds = caller_scales(imports, self.index.functions, attributes)
        for function in suspects:
            if not sdpa_with_scale(function, imports, self.index.classes):
                for matmul in _found(imports, function, attributes, seeds):
                    self.report(matmul)

    VALID: ClassVar[list[str]] = [
        # Per-dimension attention: the einsum keeps d, so each logit is a product of
        # two scalars and nothing grows with the width.
        """\
import torch
import torch.nn.functional as F

def per_dimension(q, k, v):
    logits = torch.einsum("bndws,bnds->bndws", q, k)
    weights = F.softmax(logits, dim=3)
    return torch.einsum("bndws,bndws->bnds", weights, v)
""",
        # The scale applied to q and k alike through ``map`` and a lambda.
        """\
import math
import torch
from einops import rearrange

def attention(q, k, v, heads, scale):
    q, k, v = map(lambda t: rearrange(t, "b n (h d) -> b h n d", h=heads), (q, k, v))
    q, k = map(lambda t: t * math.sqrt(scale), (q, k))
    sim = torch.einsum("bhid,bhjd->bhij", q, k)
    return torch.einsum("bhij,bhjd->bhid", sim.softmax(dim=-1), v)
""",
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
        # Additive attention: a learned vector times tanh of a projection, then
        # scores against a tanh'd product (bounded logits).
        """\
import torch
import torch.nn.functional as F

def additive(x, w1, w2, h):
    a = F.softmax(torch.matmul(torch.tanh(torch.matmul(x, w1)), w2), dim=1)
    b = torch.tanh(h @ x.transpose(1, 2)).softmax(-1)
    return torch.matmul(a.unsqueeze(1), x), b @ x
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
        # Scaled through another spelling of a product: a quantization-friendly
        # FloatFunctional (``mul_scalar``) and torch's ``divide`` alias.
        """\
import torch
from torch import nn

class QuantizableAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_scale = torch.ao.nn.quantized.FloatFunctional()

    def forward(self, q, k, v, scaling, temperature):
        q = self.q_scale.mul_scalar(q, scaling)
        weights = torch.bmm(q, k.transpose(1, 2)).softmax(-1)
        scores = torch.divide(torch.bmm(q, k.transpose(1, 2)), temperature)
        return torch.bmm(weights, v), torch.bmm(scores.softmax(-1), v)
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
        # Eager and fused twins of one attention, picked at run time: the fused
        # method states scale=1.0, so the unscaled eager method mirrors a choice.
        """\
import torch
import torch.nn.functional as F
from torch import nn

class Attention(nn.Module):
    def _eager(self, q, k, v, bias):
        scores = torch.matmul(q, k.transpose(-1, -2)) + bias
        return torch.matmul(scores.softmax(dim=-1), v)

    def _fused(self, q, k, v, bias):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=1.0)

    def forward(self, q, k, v, bias):
        attend = self._fused if self.use_fused else self._eager
        return attend(q, k, v, bias)
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
            # ``map`` only reshapes: no scale reaches the scores.
            """\
import torch
from einops import rearrange

def attention(q, k, v, heads):
    q, k, v = map(lambda t: rearrange(t, "b n (h d) -> b h n d", h=heads), (q, k, v))
    sim = torch.einsum("bhid,bhjd->bhij", q, k)
    return torch.einsum("bhij,bhjd->bhid", sim.softmax(dim=-1), v)
""",
            line=6,
            column=11,
        ),
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
        # Twin methods again, but the fused one keeps the default 1/sqrt(d): the
        # eager method disagrees with it.
        Invalid(
            """\
import torch
import torch.nn.functional as F
from torch import nn

class Attention(nn.Module):
    def _eager(self, q, k, v):
        scores = torch.matmul(q, k.transpose(-1, -2))
        return torch.matmul(scores.softmax(dim=-1), v)

    def _fused(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v)
""",
            line=7,
            column=18,
        ),
    ]


def _found(
    imports: ImportMap,
    function: cst.FunctionDef,
    attributes: Attributes,
    seeds: dict[cst.FunctionDef, dict[str, Facts]] | None,
) -> list[cst.CSTNode]:
    """The score products of ``function`` whose softmax weights the values."""
    walker = ScoreWalker(imports, attributes)
    walker.run(function, (seeds or {}).get(function))
    return list(dict.fromkeys(walker.found))
