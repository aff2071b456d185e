"""What the forward pass (:mod:`.forward_flow`) records: submodule chains
(:class:`Flow`), what a local name holds (:class:`Binding`), residual adds and module
applications."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst


@dataclass(frozen=True)
class Flow:
    """A value as "tensor ``root`` with the submodules ``steps`` applied in order".

    ``root`` identifies the value the chain started from (an argument, or anything the
    flow cannot see through); ``"~"`` in ``steps`` is a reshape (view, flatten, ...).
    """

    root: int
    steps: tuple[str, ...] = ()

    def then(self, step: str) -> Flow:
        return Flow(self.root, (*self.steps, step))


@dataclass(eq=False)
class Binding:
    """What a local name holds at one point of ``forward``."""

    flow: Flow
    tensorish: bool
    # ``h = self.block(x)``: ("x", the binding x had then): what ``h`` came from.
    source: tuple[str, Binding] | None = None
    # The tensor object held: shared by aliases and by an in-place op's result.
    tensor: int = 0


@dataclass
class Add:
    node: cst.BinaryOperation | cst.AugAssign
    left: cst.BaseExpression
    right: cst.BaseExpression
    flows: tuple[Flow | None, Flow | None]
    bindings: tuple[Binding | None, Binding | None]
    guarded: bool  # under an ``if`` or a conditional expression
    env: dict[str, Binding]  # what every local name held when the add ran


@dataclass
class Application:
    attr: str  # the submodule (or raw weight parameter) applied
    input: Flow | None
    node: cst.CSTNode
