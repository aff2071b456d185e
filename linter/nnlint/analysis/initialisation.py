"""Which attributes something in a file may initialise, gathered during a walk.

A parameter created from uninitialised memory is harmless when anything fills it
before use, and the code that does is often far from the creation: a
``reset_parameters`` method, an ``_init_weights(module)`` function handed to
``self.apply``, a library helper with no telling name (``glorot(self.weight)``).
:class:`InitialisationEvidence` collects, node by node, every attribute name such
code could reach, whatever object it is reached through:

* an attribute passed to a function whose name ends in ``_`` or mentions ``init``,
  or to *any* call inside a function whose name mentions ``init`` or ``reset``, or
  inside a method that ``__init__`` calls (:func:`construction_methods`);
* the same seen through a view of it (``init.orthogonal_(self.w.view(-1, d))``
  fills ``w``: a view shares its storage);
* an in-place method on it (``.uniform_()``, ``.data.copy_(...)``);
* an assignment to it, its ``.data`` or an element of it (unless the assigned value
  is itself an uninitialised creation: the caller says which ones are);
* its name in a string (``getattr(m, "w")``; not the name a ``register_parameter``,
  ``register_buffer`` or ``add_module`` call gives what it creates);
* a loop initialising every element of a literal list of attributes; and a loop
  initialising ``.parameters()`` / ``.named_parameters()`` covers every name.

The evidence is fed by the rules' shared walk rather than walked here: a second
walk over the file cost more than the rule that asks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import libcst as cst

from nnlint.analysis.cst_syntax import called_name
from nnlint.analysis.method_syntax import self_attr
from nnlint.analysis.walk import walk


def initialiser(name: str) -> bool:
    """A function or method whose name says it initialises (``normal_``,
    ``init_weights``, ``xavier_init``)."""
    return name.endswith("_") or "init" in name.lower()


def init_like(function: str) -> bool:
    """``__init__``, ``reset_parameters``, ``_init_weights``, ``init_weights``, ...:
    in these, a call receiving a parameter is taken to initialise it (library helpers
    such as ``glorot(w)``, ``zeros(b)`` or ``uniform(fan_in, w)`` have no telling
    name, and a parameter is rarely handed to anything else while being built)."""
    lowered = function.lower()
    return "init" in lowered or "reset" in lowered


# Calls whose first argument names the attribute they create: that string is a name
# being made, not a reference to an attribute something fills (Whisper registers an
# audio ``positional_embedding`` buffer beside a text one left uninitialised).
_REGISTERING = frozenset(
    {"register_parameter", "register_buffer", "add_module", "register_module"}
)


class InitialisationEvidence:
    """Attribute names something in the file may initialise, fed node by node."""

    def __init__(self, uninitialised: Callable[[cst.BaseExpression], bool]) -> None:
        self.uninitialised = uninitialised
        self.names: set[str] = set()
        self.everything = False
        self.naming: set[cst.CSTNode] = set()  # register_parameter's name strings

    def call(self, node: cst.Call, in_init_method: bool) -> None:
        called = called_name(node)
        if called in _REGISTERING and node.args:
            self.naming.add(node.args[0].value)
            if called == "register_parameter":
                return
        if isinstance(node.func, cst.Attribute) and called.endswith("_"):
            self.names.update(_attribute_names(node.func.value))
        if in_init_method or initialiser(called):
            for argument in node.args:
                self.names.update(_attribute_names(argument.value))

    def assign(self, node: cst.Assign | cst.AugAssign | cst.AnnAssign) -> None:
        if isinstance(node, cst.Assign):
            if not self.uninitialised(node.value):
                for target in node.targets:
                    self.names.update(_attribute_names(target.target))
        else:
            self.names.update(_attribute_names(node.target))

    def string(self, node: cst.SimpleString | cst.ConcatenatedString) -> None:
        if node not in self.naming:
            value = node.evaluated_value
            if isinstance(value, str):
                self.names.update(value.split("."))

    def loop(self, node: cst.For) -> None:
        self.everything = self.everything or _loops_over_parameters(node)
        # ``for p in [m.q, m.k]: init.normal_(p)`` (transformers' XLNet).
        if isinstance(node.iter, cst.List | cst.Tuple) and _initialises(node.body):
            for element in node.iter.elements:
                self.names.update(_attribute_names(element.value))

    def __contains__(self, name: str) -> bool:
        return self.everything or name in self.names


# Tensor methods and attributes whose result shares the tensor's storage: filling
# the result in place fills the tensor itself.
_VIEW_METHODS = frozenset(
    {
        "view", "view_as", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze",
        "t", "transpose", "permute", "movedim", "swapaxes", "narrow", "select",
        "unfold", "expand", "detach", "as_strided",
    }
)  # fmt: skip
_VIEW_ATTRIBUTES = frozenset({"data", "T", "mT", "H", "mH"})


def _attribute_names(node: cst.BaseExpression) -> Iterator[str]:
    """``w`` for ``x.w``, ``x.w.data``, ``x.w[0]``, ``x.w.data[0]``, ``x.w.view(n)``,
    ``x.w.T``."""
    while True:
        if type(node) is cst.Subscript:
            node = node.value
        elif type(node) is cst.Attribute:
            if node.attr.value not in _VIEW_ATTRIBUTES:
                yield node.attr.value
                return
            node = node.value
        elif (
            type(node) is cst.Call
            and type(node.func) is cst.Attribute
            and node.func.attr.value in _VIEW_METHODS
        ):
            node = node.func.value
        else:
            return


def reaches_an_attribute(node: cst.Call) -> bool:
    """Whether an argument of ``node`` could name an attribute (cheap: the types
    :func:`_attribute_names` reads through)."""
    return any(
        type(arg.value) is cst.Attribute
        or type(arg.value) is cst.Subscript
        or type(arg.value) is cst.Call
        for arg in node.args
    )


def construction_methods(owner: cst.ClassDef) -> set[cst.FunctionDef]:
    """``__init__`` and the methods it calls as ``self.<name>(...)``, transitively:
    code that runs while the object is built, like ``reset_parameters`` does."""
    defined = {
        statement.name.value: statement
        for statement in owner.body.body
        if type(statement) is cst.FunctionDef
    }
    start = defined.get("__init__")
    reached: set[cst.FunctionDef] = set()
    pending = [start] if start is not None else []
    while pending:
        method = pending.pop()
        if method in reached:
            continue
        reached.add(method)
        for node in walk(method):
            if type(node) is cst.Call:
                called = self_attr(node.func)
                if called in defined:
                    pending.append(defined[called])
    return reached


def _initialises(body: cst.CSTNode) -> bool:
    return any(
        isinstance(n, cst.Call) and initialiser(called_name(n)) for n in walk(body)
    )


def _loops_over_parameters(loop: cst.For) -> bool:
    if not (
        isinstance(loop.iter, cst.Call)
        and called_name(loop.iter) in ("parameters", "named_parameters")
    ):
        return False
    return _initialises(loop.body)
