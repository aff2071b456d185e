"""Where attention scores come from in one function, for NNL703.

:class:`ScoreWalker` evaluates a function body (see :mod:`nnlint.analysis.tensor_flow`)
with four facts: ``scores`` (an unscaled product of two tensors), ``weights`` (their
softmax), ``scaled`` (multiplied, divided or L2-normalised on the way) and ``proj``
(the output of a ``self.<attr>`` submodule). Weights multiplied with a third tensor
(the values) complete the attention pattern, and their product is recorded in
``found``. :func:`file_attributes` collects, once per file, the ``self.<attr>`` names
that change the answer, and :func:`caller_scales` the parameters that callers in the
file pass a scaled tensor to.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Sequence
from typing import NamedTuple

import libcst as cst

from nnlint.analysis.class_facts import methods
from nnlint.analysis.names import ImportMap
from nnlint.analysis.tensor_flow import (
    NOTHING,
    SOFTMAX_FUNCTIONS,
    Facts,
    FlowWalker,
    Tag,
)
from nnlint.analysis.walk import walk

_SCALED: Tag = ("scaled", None)
_MATMULS = frozenset({"torch.matmul", "torch.bmm", ".matmul", ".bmm"})
# Every spelling of a product or quotient: torch's aliases (``multiply``, ``divide``)
# and the quantization-friendly ``FloatFunctional.mul_scalar`` that quantizable
# attention scales q with.
_SCALING_CALLS = frozenset(
    {
        "torch.mul", "torch.div", "torch.true_divide", "torch.nn.functional.normalize",
        "torch.multiply", "torch.divide",
        ".mul", ".mul_", ".div", ".div_", ".true_divide", ".multiply", ".multiply_",
        ".divide", ".divide_", ".mul_scalar",
    }
)  # fmt: skip
# tanh bounds its output to (-1, 1): scores computed from it are additive attention
# (``v^T tanh(W x)``, Bahdanau), which has no 1/sqrt(d) convention, or are bounded
# logits that cannot saturate the softmax. Either way they count as scaled.
_BOUNDING = frozenset({"torch.tanh", ".tanh", "torch.nn.functional.tanh"})
_NORMALIZE = "torch.nn.functional.normalize"
_SDPA = "torch.nn.functional.scaled_dot_product_attention"
_INITS = ("normal_", "uniform_", "trunc_normal_", "xavier_normal_")


class Attributes(NamedTuple):
    """``self.<attr>`` names that matter to the walk, collected once per file."""

    folded: set[str]  # projections initialised with an inverse square root
    softmaxes: set[str]  # nn.Softmax modules
    normalising: set[str]  # modules of a file class whose forward L2-normalises


class ScoreWalker(FlowWalker):
    """Facts: ``scores`` (an unscaled q·k product), ``weights`` (their softmax),
    ``scaled``, and ``proj`` (the output of a ``self.<attr>`` module)."""

    def __init__(self, imports: ImportMap, attributes: Attributes) -> None:
        super().__init__(imports)
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
        if name == "torch.einsum" and len(args) == 3 and _contracts(node):
            return self.product(node, args[1], args[2])
        if name == "torch.einsum":
            self.consume(args[1:])
            return NOTHING
        if name == "torch.baddbmm" and len(args) >= 3:
            if any(a.keyword and a.keyword.value == "alpha" for a in node.args):
                return frozenset({_SCALED})
            return self.product(node, args[1], args[2])
        if name in _SCALING_CALLS or name in _BOUNDING:
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
        assert type(attribute) is cst.Attribute
        if attribute.attr.value in self.softmaxes:
            return _softmax(first)
        if attribute.attr.value in self.normalising:
            return frozenset({_SCALED})
        # A submodule keeps attention weights (dropout) and a scale applied before
        # it; its output is tagged with the attribute for the initialisation check.
        kept = {t for t in first if t[0] in ("weights", "scaled")}
        return frozenset({("proj", attribute), *kept})

    def on_binary(self, node: cst.BinaryOperation, left: Facts, right: Facts) -> Facts:
        if type(node.operator) is cst.MatrixMultiply:
            return self.product(node, left, right)
        if type(node.operator) is cst.Multiply or type(node.operator) is cst.Divide:
            return frozenset({_SCALED, *_only(left | right, "weights")})
        return super().on_binary(node, left, right)

    def element(self, facts: Facts, index: int) -> Facts:
        return _only(facts, "scaled")

    def on_statement(self, node: cst.CSTNode, env: dict[str, Facts]) -> None:
        # ``scores.mul_(scale)`` / ``scores.div_(t)`` scale the tensor in place.
        call = node.value if type(node) is cst.Expr else None
        if type(call) is cst.Call and type(call.func) is cst.Attribute:
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
            if tag[0] == "proj" and type(tag[1]) is cst.Attribute:
                if tag[1].attr.value in self.folded:
                    return NOTHING
        return frozenset({("scores", node)})

    def consume(self, operands: list[Facts]) -> bool:
        """Attention weights multiplied with the values: the pattern is complete."""
        weights = [tag[1] for facts in operands for tag in facts if tag[0] == "weights"]
        self.found.extend(node for node in weights if node is not None)
        return bool(weights)


def caller_scales(
    imports: ImportMap, judged: list[cst.FunctionDef], attributes: Attributes
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
            walker = ScoreWalker(imports, attributes)
            walker.run(function, seeds.get(function))
            for call, args in walker.calls:
                for callee in by_name.get(_callee_name(call.func) or "", ()):
                    for param in _scaled_params(call, args, callee):
                        seeds.setdefault(callee, {})[param] = frozenset({_SCALED})
        if sum(len(s) for s in seeds.values()) == before:
            break
    return seeds


def _callee_name(func: cst.BaseExpression) -> str | None:
    if type(func) is cst.Name:
        return func.value
    if type(func) is cst.Attribute and _self_attribute(func):
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


def _contracts(node: cst.Call) -> bool:
    """Whether a two-operand ``einsum`` sums over an index (a dot product). One whose
    output keeps every index (``"bhdi,bhdj->bhdij"``) multiplies elementwise: its
    logits are products of two scalars and do not grow with a width, so no
    1/sqrt(d) applies. An equation that cannot be read counts as contracting."""
    equation = node.args[0].value
    if type(equation) is not cst.SimpleString:
        return True
    text = equation.evaluated_value
    if not isinstance(text, str) or "->" not in text:
        return True
    inputs, _, output = text.replace(" ", "").replace("...", "").partition("->")
    return bool(set(inputs.replace(",", "")) - set(output))


def _softmax(facts: Facts) -> Facts:
    return frozenset(("weights", tag[1]) for tag in facts if tag[0] == "scores")


def _only(facts: Facts, kind: str) -> Facts:
    return frozenset(tag for tag in facts if tag[0] == kind)


def _self_attribute(node: cst.BaseExpression) -> bool:
    return (
        type(node) is cst.Attribute
        and type(node.value) is cst.Name
        and node.value.value == "self"
    )


class FileIndex(NamedTuple):
    """What the file-level facts are read from, filled during the engine's walk."""

    functions: list[cst.FunctionDef]
    classes: list[cst.ClassDef]
    # ``self.<attr> = Ctor(...)``: (attribute, constructor's last name).
    built: list[tuple[str, str]]
    inits: list[cst.Call]  # calls of ``normal_``, ``uniform_``, ...

    def add_assign(self, node: cst.Assign) -> None:
        if type(node.value) is not cst.Call:
            return
        name = _last_name(node.value.func)
        for target in node.targets:
            attribute = target.target
            if name and type(attribute) is cst.Attribute:
                if _self_attribute(attribute):
                    self.built.append((attribute.attr.value, name))

    def add_call(self, node: cst.Call) -> None:
        if _last_name(node.func) in _INITS:
            self.inits.append(node)

    def built_by(self, names: set[str]) -> set[str]:
        return {attribute for attribute, ctor in self.built if ctor in names}


def _last_name(func: cst.BaseExpression) -> str | None:
    if type(func) is cst.Name:
        return func.value
    return func.attr.value if type(func) is cst.Attribute else None


def softmax_attributes(index: FileIndex) -> set[str]:
    """``self.<name> = nn.Softmax(...)`` anywhere in the file."""
    return index.built_by({"Softmax"})


def _normalising_attributes(index: FileIndex, imports: ImportMap) -> set[str]:
    """``self.<name> = Norm(...)`` where ``Norm`` is a class of this file whose
    ``forward`` calls ``F.normalize``: cosine attention behind a helper module (a
    learned gain on unit vectors), whose logits stay bounded."""
    classes = set()
    for node in index.classes:
        body = node.body.body if type(node.body) is cst.IndentedBlock else ()
        for item in body:
            if type(item) is cst.FunctionDef and item.name.value == "forward":
                if any(
                    type(c) is cst.Call and imports.resolve(c.func) == _NORMALIZE
                    for c in walk(item)
                ):
                    classes.add(node.name.value)
    return index.built_by(classes)


# Read on the call's tokens without spaces, comments and parentheses, so that the
# layout of the call (``d ** (-0.5)``, ``/ (math.sqrt(d))``, a comment naming
# ``sqrt``) does not decide, only its code.
_INVERSE_SQRT = re.compile(r"\*\*-0?\.5|rsqrt|/(?:math\.|np\.)?sqrt")
_LAYOUT_TOKENS = frozenset(
    {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
)


def _init_scaled_attributes(module: cst.Module, index: FileIndex) -> set[str]:
    """Attributes whose ``.weight`` an initialiser call sets with an inverse square
    root in its arguments: ``nn.init.normal_(self.q.weight, std=d ** -0.5)`` or
    ``module.q.weight.data.normal_(std=...)`` gives ``q``."""
    found = set()
    for node in index.inits:
        text = _code_only(module.code_for_node(node))
        if not _INVERSE_SQRT.search(text):
            continue
        for match in re.finditer(r"\.(\w+)\.weight\b", text):
            found.add(match.group(1))
    return found


def _code_only(text: str) -> str:
    """An expression's tokens joined without layout: no spaces, comments, parens."""
    tokens = tokenize.generate_tokens(io.StringIO("(" + text + ")").readline)
    return "".join(
        token.string
        for token in tokens
        if token.type not in _LAYOUT_TOKENS and token.string not in ("(", ")")
    )


def file_attributes(
    module: cst.Module, imports: ImportMap, index: FileIndex
) -> Attributes:
    return Attributes(
        _init_scaled_attributes(module, index),
        softmax_attributes(index),
        _normalising_attributes(index, imports),
    )


def sdpa_with_scale(
    function: cst.FunctionDef,
    imports: ImportMap,
    classes: Sequence[cst.ClassDef] = (),
) -> bool:
    """The function, or another method of its class, also calls
    ``F.scaled_dot_product_attention`` with an explicit ``scale``: the hand-written
    path is a fallback, or the eager twin of a fused implementation picked at run
    time, computing the same thing, and the scale was chosen on purpose
    (``scale=1.0`` with QK-norm, or with a scale folded into the initialisation)."""
    return any(
        _sdpa_scale_stated(f, imports) for f in _methods_beside(function, classes)
    )


def _methods_beside(
    function: cst.FunctionDef, classes: Sequence[cst.ClassDef]
) -> list[cst.FunctionDef]:
    """The methods of the class ``function`` is defined in (``__init__`` aside:
    it builds the layers, it does not attend), or ``function`` alone."""
    for scope in classes:
        members = list(methods(scope))
        if any(method is function for method in members):
            return members
    return [function]


def _sdpa_scale_stated(function: cst.FunctionDef, imports: ImportMap) -> bool:
    for call in walk(function):
        if type(call) is cst.Call and imports.resolve(call.func) == _SDPA:
            if any(a.keyword and a.keyword.value == "scale" for a in call.args):
                return True
    return False
