"""Attributes that hold a tensor outside the gradient, by name, once per file.

``context.get(frozen_attributes)`` lists the attribute names a file stores a
non-trained tensor under: a registered buffer (``register_buffer("name", ...)``),
``nn.Buffer(...)``, a parameter built with ``requires_grad=False``, or a plain tensor
from a factory (``torch.zeros(n)``, ``x.new_ones(...)``, ``torch.tensor(...)``).
Such a tensor is state the training step does not learn: a running statistic, a
mask, a routing bias nudged by hand. Names only: the object the attribute hangs on
(``self``, ``self.gate``) is not followed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import libcst as cst

from nnlint.analysis.walk import walk

if TYPE_CHECKING:
    from nnlint.analysis.context import AnalysisContext

_FACTORIES = re.compile(r"(?:zeros|ones|full|empty|tensor)\w*$")


def frozen_attributes(context: AnalysisContext) -> frozenset[str]:
    """Attribute names holding a tensor outside the gradient (an analysis:
    ``context.get(frozen_attributes)``)."""
    found: set[str] = set()
    for node in walk(context.module):
        if isinstance(node, cst.Call):
            func = node.func
            method = func.attr.value if isinstance(func, cst.Attribute) else None
            if method == "register_buffer" and node.args:
                name = node.args[0].value
                if isinstance(name, cst.SimpleString):
                    found.add(str(name.evaluated_value))
        elif isinstance(node, cst.Assign) and isinstance(node.value, cst.Call):
            if _outside_gradient(node.value):
                for target in node.targets:
                    if isinstance(target.target, cst.Attribute):
                        found.add(target.target.attr.value)
    return frozenset(found)


def _outside_gradient(call: cst.Call) -> bool:
    func = call.func
    last = func.attr.value if isinstance(func, cst.Attribute) else None
    if isinstance(func, cst.Name):
        last = func.value
    if last == "Buffer":
        return True
    if last == "Parameter":
        return any(
            a.keyword is not None
            and a.keyword.value == "requires_grad"
            and isinstance(a.value, cst.Name)
            and a.value.value == "False"
            for a in call.args
        )
    return last is not None and bool(_FACTORIES.match(last))
