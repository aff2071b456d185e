"""``.data`` reads where they can cut a gradient (NNL502), recorded by the forward pass.

The pass (:mod:`.forward_flow`) tells :class:`DataReads` about every attribute it
evaluates and when it enters a part of a method where ``.data`` cannot cut a gradient:
a lambda (it runs later, if ever), an ``assert``, a ``with`` block under ``no_grad``
(or ``inference_mode``, ``set_grad_enabled``), and a statement that writes through
``.data`` or caches a value on ``self`` (``self.m = x.data``, ``x.data[i] = 0``,
``y += x.data``). Whether the receiver is a tensor is the rule's question.
:func:`harmless` says which reads cannot cut a gradient whatever the receiver, and
:func:`handed_to_metadata_helpers` which are handed to a helper of the file that only
reads their metadata.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import libcst as cst

from nnlint.analysis.cst_syntax import Resolve, descendants, is_self_attr
from nnlint.analysis.walk import walk

# Reading these through ``.data`` never feeds autograd (metadata, host copies) or says
# "no gradient" explicitly; an in-place method (``.data.clamp_()``) is a deliberate
# write. The ``new_*`` factories and the legacy ``new`` constructor read only the
# receiver's dtype and device. Comparisons and index results have no gradient
# whatever their input, so ``.data`` cuts nothing there.
_HARMLESS = frozenset(
    "shape size dtype device dim ndim numel nelement element_size stride is_cuda "
    "is_contiguous is_floating_point get_device data_ptr item tolist numpy detach "
    "new new_full new_zeros new_ones new_empty new_tensor "
    "eq ne lt le gt ge isnan isinf isfinite argmax argmin argsort nonzero".split()
)
# What follows a ``.data`` indexed by a string key (see ``DataReads.subscript``).
_KEYED = "[key]"
_STRINGS = (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)
NO_GRAD = frozenset({"torch.no_grad", "torch.inference_mode", "torch.set_grad_enabled"})


@dataclass(frozen=True)
class DataRead:
    node: cst.Attribute  # ``<receiver>.data``
    then: str | None  # the attribute read from it next (``x.data.shape``: "shape")
    in_test: bool  # inside an ``if``/``while`` condition


class DataReads:
    """The ``.data`` reads of one method, in the order the pass evaluates them."""

    def __init__(self, resolve: Resolve) -> None:
        self.resolve = resolve
        self.found: list[DataRead] = []
        self.quiet = 0  # > 0: inside a part where ``.data`` cannot cut a gradient
        self.test = 0  # > 0: inside an ``if``/``while`` condition
        self._then: dict[int, str] = {}

    def attribute(self, node: cst.Attribute) -> None:
        """``node`` is evaluated (before its receiver)."""
        inner = node.value
        if type(inner) is cst.Attribute and inner.attr.value == "data":
            self._then[id(inner)] = node.attr.value
        if node.attr.value == "data" and not self.quiet:
            then = self._then.get(id(node))
            self.found.append(DataRead(node, then, self.test > 0))

    def subscript(self, node: cst.Subscript) -> None:
        """``node`` is evaluated (before its value). ``x.data["h"]``: a string key
        cannot index a tensor, so this ``.data`` is a mapping (a graph library's
        node or edge batch), not ``Tensor.data``."""
        inner = node.value
        if (
            type(inner) is cst.Attribute
            and inner.attr.value == "data"
            and len(node.slice) == 1
            and type(node.slice[0].slice) is cst.Index
            and type(node.slice[0].slice.value) in _STRINGS
        ):
            self._then[id(inner)] = _KEYED

    def disables_grad(self, statement: cst.With) -> bool:
        for item in statement.items:
            call = item.item
            func = call.func if type(call) is cst.Call else call
            if self.resolve(func) in NO_GRAD:
                return True
        return False


def writes(small: cst.CSTNode) -> bool:
    """A statement that stores through ``.data`` or caches a value on ``self``."""
    if type(small) is cst.AugAssign:
        return True
    if type(small) is not cst.Assign:
        return False
    for target in small.targets:
        if is_self_attr(target.target) is not None:
            return True
        for part in (target.target, *descendants(target.target)):
            if type(part) is cst.Attribute and part.attr.value == "data":
                return True
    return False


def harmless(read: DataRead) -> bool:
    """Metadata, host copies, an in-place write, a mapping read by key, or a
    condition: no gradient cut."""
    then = read.then
    if then is not None and (
        then in _HARMLESS
        or then == _KEYED
        or (then.endswith("_") and not then.endswith("__"))
    ):
        return True
    return read.in_test


# ``helper(x.data, ...)``, ``helper((x.data), ...)``: the name of a function a
# ``.data`` is handed to (a lookahead, so ``f(g(x.data))`` still finds ``g``).
_HANDED = re.compile(r"\b(\w+)[ \t]*\((?=[\s(]*[^()]*?\.data\b)")


def helper_definitions(hit: str) -> re.Pattern[str]:
    """Evidence: the definitions of the functions the picked text hands a ``.data``
    to (a helper that only reads metadata from it cuts no gradient)."""
    names = sorted(set(_HANDED.findall(hit)))
    if not names:
        return re.compile(r"(?!)")
    return re.compile(rf"\bdef[ \t]+(?:{'|'.join(map(re.escape, names))})\b")


def metadata_only(function: cst.FunctionDef, index: int) -> bool:
    """The ``index``-th parameter of a plain function is only a receiver of
    harmless reads (``x.new_empty(...)``, ``x.shape``) in its body."""
    params = function.params.params
    if index >= len(params):
        return False
    name = params[index].name.value
    every = list(walk(function.body))
    receivers = {
        id(node.value)
        for node in every
        if type(node) is cst.Attribute and node.attr.value in _HARMLESS
    }
    uses = [n for n in every if type(n) is cst.Name and n.value == name]
    return bool(uses) and all(id(use) in receivers for use in uses)


def handed_to_metadata_helpers(module: cst.Module, node: cst.FunctionDef) -> set[int]:
    """``.data`` reads passed by position to a top-level function of this file
    that only reads metadata from that parameter (a mask helper)."""
    helpers = {
        statement.name.value: statement
        for statement in module.body
        if type(statement) is cst.FunctionDef
    }
    found = set()
    for call in walk(node):
        if type(call) is not cst.Call or type(call.func) is not cst.Name:
            continue
        helper = helpers.get(call.func.value)
        for index, arg in enumerate(call.args):
            value = arg.value
            if (
                helper is not None
                and arg.keyword is None
                and not arg.star
                and type(value) is cst.Attribute
                and value.attr.value == "data"
                and metadata_only(helper, index)
            ):
                found.add(id(value))
    return found


def saved_for_restore(function: cst.FunctionDef) -> set[int]:
    """``old = w.data`` whose only other uses write it back (``w.data = old``): the
    storage is swapped and restored, no value computed from it."""
    every = list(walk(function.body))
    saved: dict[str, cst.Attribute] = {}
    restores: set[int] = set()
    for node in every:
        if type(node) is not cst.Assign or type(node.value) is not cst.Name:
            continue
        if all(_is_data(target.target) for target in node.targets):
            restores.add(id(node.value))
    for node in every:
        if (
            type(node) is cst.Assign
            and len(node.targets) == 1
            and type(node.targets[0].target) is cst.Name
            and _is_data(node.value)
        ):
            assert type(node.value) is cst.Attribute
            saved[node.targets[0].target.value] = node.value
    targets = {
        id(target.target)
        for n in every
        if type(n) is cst.Assign
        for target in n.targets
    }
    found = set()
    for name, read in saved.items():
        uses = [
            n
            for n in every
            if type(n) is cst.Name and n.value == name and id(n) not in targets
        ]
        if uses and all(id(use) in restores for use in uses):
            found.add(id(read))
    return found


def _is_data(node: cst.BaseExpression) -> bool:
    return type(node) is cst.Attribute and node.attr.value == "data"
