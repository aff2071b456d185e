"""Which of a class's own methods the forward pass follows, and how a call's arguments
bind to the callee's parameters (:meth:`~.forward_flow.ForwardFlow.follow`).

A call ``self.helper(x)`` runs ``helper``'s body on the caller's values, so the pass
evaluates that body with each parameter bound to what the caller passed: the adds,
submodule applications and in-place operations inside it see the caller's chains and
tensors, and the call's value carries what the helper returned. Only a plain method
is followed (a decorated one may be a ``staticmethod``, a ``property`` or a wrapper
that changes what runs), never into itself (recursion), and at most
:data:`MAX_DEPTH` calls deep (a helper of a helper of a helper: deeper stacks are
model-building code, not a block's data flow).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from nnlint.analysis.method_syntax import self_attr

if TYPE_CHECKING:
    from nnlint.analysis.module_model import ClassModel

MAX_DEPTH = 3


def followed_method(
    call: cst.Call,
    model: ClassModel,
    owner: str | None,
    stack: list[cst.FunctionDef],
) -> cst.FunctionDef | None:
    """The method of ``model`` that ``call`` (``self.name(...)``) runs, if the pass
    follows it from the methods in ``stack``."""
    name = self_attr(call.func, owner)
    callee = model.methods.get(name) if name is not None else None
    if (
        callee is None
        or callee.decorators
        or callee in stack
        or len(stack) > MAX_DEPTH  # the method walked, then the helpers followed
        or not callee.params.params
        or any(arg.star for arg in call.args)  # ``*args``: which parameter is which?
    ):
        return None
    return callee


def parameter_of(callee: cst.FunctionDef, call: cst.Call) -> list[str | None]:
    """For each argument of ``call``, the parameter of ``callee`` it binds (None
    when it binds none the pass knows, e.g. one gathered by ``*args``)."""
    params = callee.params
    positional = [p.name.value for p in (*params.posonly_params, *params.params)][1:]
    named = set(positional) | {p.name.value for p in params.kwonly_params}
    bound: list[str | None] = []
    for index, arg in enumerate(call.args):
        if arg.keyword is not None:
            name = arg.keyword.value
            bound.append(name if name in named else None)
        else:
            bound.append(positional[index] if index < len(positional) else None)
    return bound
