"""Which loss a model is trained with, as a canonical family name (no torch import).

The loss may be given as a loss module (``nn.CrossEntropyLoss()``), a functional
(``F.cross_entropy``), a dotted name in config (``"torch.nn.CrossEntropyLoss"``), or a
user function whose body calls one of those (``lambda o, y: F.cross_entropy(o, y)``).
Anything else resolves to None, and the rules that need a loss stay silent.
"""

from __future__ import annotations

import functools
import types
from typing import Any

# Class and function names -> family. Families are what the tail-activation rule judges.
FAMILIES = {
    "CrossEntropyLoss": "cross_entropy",
    "cross_entropy": "cross_entropy",
    "NLLLoss": "nll",
    "nll_loss": "nll",
    "BCEWithLogitsLoss": "bce_with_logits",
    "binary_cross_entropy_with_logits": "bce_with_logits",
    "BCELoss": "bce",
    "binary_cross_entropy": "bce",
    "KLDivLoss": "kl_div",
    "kl_div": "kl_div",
}


def loss_family(loss: Any) -> str | None:
    """The family of ``loss`` (see module docstring), or None when unknown."""
    if loss is None:
        return None
    if isinstance(loss, str):
        return FAMILIES.get(loss.rsplit(".", 1)[-1].rsplit(":", 1)[-1])
    if isinstance(loss, functools.partial):
        return loss_family(loss.func)
    for cls in type(loss).__mro__:
        if cls.__module__.startswith("torch.nn") and cls.__name__ in FAMILIES:
            return FAMILIES[cls.__name__]
    if isinstance(loss, type) and loss.__module__.startswith("torch.nn"):
        return FAMILIES.get(loss.__name__)
    name = getattr(loss, "__name__", None)
    module = getattr(loss, "__module__", None) or ""
    if name in FAMILIES and module.startswith("torch"):
        return FAMILIES[name]
    code = getattr(loss, "__code__", None)
    if isinstance(code, types.CodeType):
        found = {FAMILIES[n] for n in _names(code) if n in FAMILIES}
        return found.pop() if len(found) == 1 else None
    return None


def _names(code: types.CodeType) -> set[str]:
    """Global and attribute names used by ``code`` and the functions nested in it."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names
