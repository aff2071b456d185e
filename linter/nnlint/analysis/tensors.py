"""Which values of a ``forward*`` method are provably tensors (NNL304).

A may-analysis (is this name perhaps a tensor?) is the forward pass's ``tensorish``;
a rule that reports a dropped result needs the must side: a value that *is* a tensor
whatever the branch taken, or the rule would flag a third-party object's method.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from nnlint.analysis.cst_syntax import assign_targets
from nnlint.analysis.method_syntax import self_attr, self_name
from nnlint.analysis.walk import walk

if TYPE_CHECKING:
    from nnlint.analysis.module_model import ClassModel

# Tensor methods that only return a new tensor (their in-place twins end in ``_``).
PURE_METHODS = frozenset(
    "relu sigmoid tanh softmax log_softmax clamp clip view reshape permute transpose "
    "contiguous flatten unsqueeze squeeze".split()
)
# Modules called for their hooks: an ``nn.Identity`` "tap" whose output is unused.
_HOOK_POINTS = frozenset({"torch.nn.Identity"})
# Tensor methods whose result is again a tensor (a receiver built by them is one).
_TENSOR_METHODS = PURE_METHODS | frozenset(
    "float half double bfloat16 long int bool to type cuda cpu detach clone "
    "mean sum exp log abs neg sqrt pow matmul mm bmm expand expand_as repeat "
    "masked_fill view_as narrow gather index_select".split()
)


class ProvableTensors:
    """Which expressions of one ``forward`` are provably tensors: its arguments,
    outputs of ``torch`` functions and of ``torch.nn`` submodules, tensor-method
    results of those, and locals only ever assigned such values. A user submodule's
    method (``self.ctc.softmax(h)``) or a third-party object's may do anything."""

    def __init__(self, owner: ClassModel, function: cst.FunctionDef):
        self.owner = owner
        self.me = self_name(function)
        params = function.params
        self.names = {p.name.value for p in (*params.posonly_params, *params.params)}
        self.names |= {p.name.value for p in params.kwonly_params}
        self.names.discard(self.me or "")
        self._locals(function)

    def _locals(self, function: cst.FunctionDef) -> None:
        values: dict[str, list[cst.BaseExpression]] = {}
        unknown: set[str] = set()  # bound by unpacking, loops, ``with ... as``
        for node in walk(function.body):
            if (
                type(node) is cst.Assign or type(node) is cst.AnnAssign
            ) and node.value is not None:
                for target in assign_targets(node):
                    if type(target) is cst.Name:
                        values.setdefault(target.value, []).append(node.value)
                    else:
                        unknown.update(_bound_names(target))
            elif type(node) is cst.For or type(node) is cst.CompFor:
                unknown.update(_bound_names(node.target))
            elif type(node) is cst.AsName or type(node) is cst.NamedExpr:
                unknown.update(
                    _bound_names(
                        node.name if isinstance(node, cst.AsName) else node.target
                    )
                )
        # The greatest fixed point: a name is a tensor while every value assigned to
        # it is one (or None: a method called on it runs only when it is a tensor).
        self.names = (self.names | values.keys()) - unknown
        changed = True
        while changed:
            changed = False
            for name, exprs in values.items():
                if name in self.names and not all(map(self._tensor_or_none, exprs)):
                    self.names.discard(name)
                    changed = True

    def _tensor_or_none(self, expr: cst.BaseExpression) -> bool:
        if type(expr) is cst.Name and expr.value == "None":
            return True
        if type(expr) is cst.IfExp:
            return self._tensor_or_none(expr.body) and self._tensor_or_none(expr.orelse)
        return self.is_tensor(expr)

    def torch_layer(self, attr: str) -> bool:
        layers = self.owner.layers.get(attr, [])
        kinds = {layer.kind for layer in layers}
        return (
            bool(layers)
            and len(layers) == len(self.owner.assigned.get(attr, []))
            and all(k is not None and k.startswith("torch.nn.") for k in kinds)
            and not kinds & _HOOK_POINTS
        )

    def is_tensor(self, expr: cst.BaseExpression) -> bool:
        if type(expr) is cst.Name:
            return expr.value in self.names
        if type(expr) is cst.BinaryOperation:
            return self.is_tensor(expr.left) or self.is_tensor(expr.right)
        if type(expr) is not cst.Call:
            return False
        attr = self_attr(expr.func, self.me)
        if attr is not None:
            return self.torch_layer(attr)
        qualified = self.owner.resolve(expr.func) or ""
        if qualified.startswith("torch.") and not qualified.startswith("torch.nn."):
            return qualified[6:7].islower()  # a function, not a class
        if qualified.startswith("torch.nn.functional."):
            return True
        return (
            type(expr.func) is cst.Attribute
            and expr.func.attr.value in _TENSOR_METHODS
            and self.is_tensor(expr.func.value)
        )


def _bound_names(target: cst.CSTNode) -> set[str]:
    """Local names a target binds (``a, (b, *c)``; not ``self.x`` or ``d[k]``)."""
    if type(target) is cst.Name:
        return {target.value}
    if type(target) is cst.StarredElement:
        return _bound_names(target.value)
    if type(target) is cst.Tuple or type(target) is cst.List:
        return {n for e in target.elements for n in _bound_names(e.value)}
    return set()
