"""Recognising calls that construct a stateful ``nn.Module``, and spelling a new
``torch.nn.<Name>`` with the linted file's own imports (for fixes)."""

from __future__ import annotations

import libcst as cst

from nnlint.analysis.context import AnalysisContext
from nnlint.analysis.layer_kinds import STATELESS
from nnlint.analysis.module_model import FileModel
from nnlint.analysis.names import dotted_name


def torch_nn_expression(
    context: AnalysisContext, name: str, hint: cst.BaseExpression | None = None
) -> cst.BaseExpression | None:
    """An expression for ``torch.nn.<name>`` spelled with this file's own imports (the
    alias ``hint`` used: ``tnn.Linear`` -> ``tnn.ModuleList``); None if none fits."""
    target = f"torch.nn.{name}"
    if isinstance(hint, cst.Attribute) and context.resolve(hint.value) == "torch.nn":
        return cst.Attribute(value=hint.value, attr=cst.Name(name))
    aliases = context.imports.aliases
    for wanted, suffix in (
        (target, ""),
        ("torch.nn", f".{name}"),
        ("torch", f".nn.{name}"),
    ):
        for local, qualified in aliases.items():
            if qualified == wanted:
                return cst.parse_expression(local + suffix)
    return None


def is_module_constructor(
    context: AnalysisContext, call: cst.BaseExpression, model: FileModel
) -> bool:
    """``nn.Linear(...)``, ``nn.Sequential(...)`` or a call of a local nn.Module,
    leaving out modules with no parameters, buffers or train/eval behaviour (losses,
    activations, pooling): keeping those in a plain list is harmless."""
    if not isinstance(call, cst.Call):
        return False
    qualified = context.resolve(call.func)
    if qualified is not None:
        head, _, last = qualified.rpartition(".")
        return (
            head == "torch.nn"
            and last[:1].isupper()
            and not last.startswith(("Parameter", "Uninitialized", "Module"))
            and not last.endswith(("Loss", "Pool1d", "Pool2d", "Pool3d"))
            and qualified not in STATELESS
        ) or qualified in ("torch.nn.ModuleList", "torch.nn.ModuleDict")
    local = model.by_name.get(dotted_name(call.func) or "")
    return local is not None and local.is_module
