"""Constant initialisation in a class's methods, for NNL201: which layer weights get
a constant (``nn.init.zeros_``, ``w.fill_(c)``, ``nn.Parameter(torch.zeros(...))``),
which a non-constant initialiser touches too, and blanket inits (``isinstance(m,
nn.Linear)`` in a ``self.modules()`` loop or a function given to ``self.apply``).

Only the methods NNL201's shared walk marked are read (``hot``: calling something
spelled like a constant initialiser; ``applying``: calling ``.apply(...)``).
"""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from nnlint.analysis.cst_syntax import called_name
from nnlint.analysis.layer_feeds import Ref, ref_text, weight_ref
from nnlint.analysis.layer_kinds import MIXING, PARAMETER
from nnlint.analysis.method_syntax import self_attr, self_name
from nnlint.analysis.module_model import ClassModel
from nnlint.analysis.walk import walk
from nnlint.rules.base import Rule

CONSTANT_INITS = frozenset(
    f"torch.nn.init.{n}" for n in ("zeros_", "ones_", "constant_")
)
CONSTANT_TENSORS = frozenset(
    f"torch.{n}"
    for n in ("zeros", "ones", "full", "zeros_like", "ones_like", "full_like")
)
CONSTANT_METHODS = frozenset({"zero_", "fill_"})
_CONSTANT_NAMES = frozenset(
    {"zeros_", "ones_", "constant_", "zero_", "fill_", "requires_grad_"}
)


def constant_inits(
    rule: Rule, owner: ClassModel, hot: set[cst.CSTNode]
) -> Iterator[tuple[Ref, cst.CSTNode]]:
    for name, method in owner.methods.items():
        if name.startswith("forward") or method not in hot:
            continue
        me = self_name(method)
        for node in walk(method):
            if isinstance(node, cst.Call):
                target = constant_call_target(rule, node)
                ref = weight_ref(target, me) if target is not None else None
                if ref is not None:
                    yield ref, node
            elif isinstance(node, cst.Assign) and _constant_tensor(rule, node.value):
                for target_node in node.targets:
                    ref = weight_ref(target_node.target, me, raw_ok=True)
                    if ref is not None:
                        yield ref, node.value


def submodule_inits(
    rule: Rule, owner: ClassModel, hot: set[cst.CSTNode]
) -> Iterator[tuple[str, Ref, cst.CSTNode]]:
    """Constant inits of a submodule's layer from its parent,
    ``nn.init.zeros_(self.proj.lora_A.weight)``: ``(submodule attr, ref in the
    submodule's class, call)``."""
    for name, method in owner.methods.items():
        if name.startswith("forward") or method not in hot:
            continue
        me = self_name(method)
        for node in walk(method):
            target = (
                constant_call_target(rule, node) if isinstance(node, cst.Call) else None
            )
            if isinstance(target, cst.Attribute) and target.attr.value == "data":
                target = target.value
            if not (
                isinstance(target, cst.Attribute) and target.attr.value == "weight"
            ):
                continue
            layer = target.value
            if isinstance(layer, cst.Attribute):
                sub = self_attr(layer.value, me)
                if sub is not None:
                    yield sub, (layer.attr.value, None), node


def constant_call_target(rule: Rule, call: cst.Call) -> cst.BaseExpression | None:
    if rule.qualified_name(call.func) in CONSTANT_INITS and call.args:
        return call.args[0].value
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value in CONSTANT_METHODS:
        return func.value
    return None


def _constant_tensor(rule: Rule, value: cst.BaseExpression) -> bool:
    if isinstance(value, cst.Call) and rule.qualified_name(value.func) == PARAMETER:
        value = value.args[0].value if value.args else value
    return (
        isinstance(value, cst.Call)
        and rule.qualified_name(value.func) in CONSTANT_TENSORS
    )


def randomised(owner: ClassModel) -> set[str]:
    """Targets some other (non-constant) initialiser also touches."""
    found: set[str] = set()
    for method in owner.methods.values():
        me = self_name(method)
        for node in walk(method):
            if not isinstance(node, cst.Call) or not node.args:
                continue
            if isinstance(node.func, cst.Attribute) and node.func.attr.value.endswith(
                "_"
            ):
                target = node.func.value
                name = node.func.attr.value
            else:
                target, name = node.args[0].value, called_name(node)
            ref = weight_ref(target, me, raw_ok=True)
            if ref is not None and name.endswith("_") and name not in _CONSTANT_NAMES:
                found.add(ref_text(ref))
    return found


# -- blanket inits ---------------------------------------------------------------


def blanket_inits(
    rule: Rule, owner: ClassModel, analysed: set[cst.CSTNode]
) -> Iterator[tuple[set[str], cst.Call]]:
    """Constant inits applied to every module of some types, through
    ``for m in self.modules()`` or ``self.apply(fn)``."""
    for name, method in owner.methods.items():
        if name.startswith("forward") or method not in analysed:
            continue
        me = self_name(method)
        for node in walk(method):
            if isinstance(node, cst.For) and isinstance(node.target, cst.Name):
                loop = node.iter
                if isinstance(loop, cst.Call) and self_attr(loop.func, me) == "modules":
                    yield from _guarded_inits(rule, node.body, node.target.value)
            elif (
                isinstance(node, cst.Call)
                and self_attr(node.func, me) == "apply"
                and node.args
            ):
                applied = _applied_function(rule, owner, node.args[0].value, me)
                if applied is not None:
                    yield from _guarded_inits(rule, *applied)


def _applied_function(
    rule: Rule, owner: ClassModel, fn: cst.BaseExpression, me: str | None
) -> tuple[cst.BaseSuite, str] | None:
    method = owner.methods.get(self_attr(fn, me) or "")
    if method is not None and len(method.params.params) == 2:
        return method.body, method.params.params[1].name.value
    if isinstance(fn, cst.Name):
        for statement in rule.context.module.body:
            if (
                isinstance(statement, cst.FunctionDef)
                and statement.name.value == fn.value
                and statement.params.params
            ):
                return statement.body, statement.params.params[0].name.value
    return None


def _guarded_inits(
    rule: Rule, block: cst.CSTNode, var: str
) -> Iterator[tuple[set[str], cst.Call]]:
    for node in walk(block):
        if not isinstance(node, cst.If):
            continue
        kinds = _isinstance_kinds(rule, node.test, var)
        if not kinds:
            continue
        for line in node.body.body:
            if not isinstance(line, cst.SimpleStatementLine):
                continue
            for small in line.body:
                call = small.value if isinstance(small, cst.Expr) else None
                if isinstance(call, cst.Call):
                    target = constant_call_target(rule, call)
                    if target is not None and _is_weight_of(target, var):
                        yield kinds, call


def _isinstance_kinds(rule: Rule, test: cst.BaseExpression, var: str) -> set[str]:
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
        [e.value for e in types.elements] if isinstance(types, cst.Tuple) else [types]
    )
    return {q for q in map(rule.qualified_name, options) if q in MIXING}


def _is_weight_of(target: cst.BaseExpression, var: str) -> bool:
    if isinstance(target, cst.Attribute) and target.attr.value == "data":
        target = target.value
    return (
        isinstance(target, cst.Attribute)
        and target.attr.value == "weight"
        and isinstance(target.value, cst.Name)
        and target.value.value == var
    )
