"""NNL305's screen: which classes may overwrite in place a tensor another name
still holds."""

from __future__ import annotations

import ast

from nnlint.rules.screens import (
    call_name,
    calls,
    forward_methods,
    nodes,
    passes_true,
)

# A torch.nn layer takes ``inplace`` as one of its first three arguments
# (``nnlint.analysis.inplace``); a torch function only by keyword.
_INPLACE_POSITIONS = 3


def may_overwrite_a_skip(node: ast.ClassDef) -> bool:
    """The screen. An in-place operation the rule reports either is passed a literal
    ``True`` (``inplace=True`` in the call, or in the ``__init__`` layer it applies)
    or is explicit (``x += y``, ``x.relu_()``); an explicit one only overwrites a
    tensor another name still holds after ``a = b``, ``a = b = ...`` or ``a =
    <in-place call>``."""
    forwards = forward_methods(node)
    if not forwards:
        return False
    if passes_true(node, "inplace", _INPLACE_POSITIONS):
        return True
    return any(_explicit_inplace(f) and _aliases(f) for f in forwards)


def _inplace_named(call: ast.Call) -> bool:
    """Named like an in-place torch function or tensor method (``relu_``, ``add_``);
    a bare name is spelled as torch spells it where screens are asked."""
    name = call_name(call)
    return name is not None and name.endswith("_") and not name.startswith("_")


def _explicit_inplace(function: ast.AST) -> bool:
    return any(
        isinstance(child, ast.AugAssign) and isinstance(child.target, ast.Name)
        for child in nodes(function)
    ) or any(map(_inplace_named, calls(function)))


def _aliases(function: ast.AST) -> bool:
    for child in nodes(function):
        if isinstance(child, ast.Assign) and len(child.targets) > 1:
            return True
        if isinstance(child, ast.Assign | ast.AnnAssign):
            value = child.value
            if isinstance(value, ast.Name) or (
                isinstance(value, ast.Call) and _inplace_named(value)
            ):
                return True
    return False
