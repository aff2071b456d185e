"""Whether every base class of a class can be read in the file that defines it.

A class whose bases are all ``torch.nn`` classes or classes defined in the same file
(recursively) shows everything it inherits; a base from anywhere else may add
methods the file does not show (an ``init_weights`` that fills a parameter the
subclass creates, as timm's DeiT relies on from ``VisionTransformer``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nnlint.analysis.module_model import ClassModel, file_model
from nnlint.analysis.names import dotted_name

if TYPE_CHECKING:
    from nnlint.analysis.context import AnalysisContext


def bases_in_file(
    context: AnalysisContext, owner: ClassModel, seen: frozenset[str] = frozenset()
) -> bool:
    """Every base class of ``owner`` is ``torch.nn``'s or defined (visibly, through
    the same test) in this file; a cycle of local names is not visible."""
    by_name = context.get(file_model).by_name
    for base in owner.node.bases:
        qualified = context.resolve(base.value) or ""
        if qualified.startswith("torch.nn."):
            continue
        local = by_name.get(dotted_name(base.value) or "")
        name = owner.node.name.value
        if local is None or name in seen:
            return False
        if not bases_in_file(context, local, seen | {name}):
            return False
    return True
