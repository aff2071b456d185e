"""What the loss-wiring walker carries: per-function scopes and per-file tables.

:class:`WalkerState` is the base of the walker's layers (``linking`` ->
``statements`` -> ``expressions`` -> ``calls``) and only holds their shared state.
The walk is mutually recursive, so a layer may call a method of a layer above it; it
declares that method under ``TYPE_CHECKING`` only, for mypy, and at run time the
lookup finds the real one on the walker's class.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import libcst as cst

from nnlint.analysis.dataflow.values import Analysis, Called, LossUse, Param, Value
from nnlint.analysis.names import ImportMap
from nnlint.analysis.walk import walk

Site = tuple[cst.Call, list[Value], "Scope"]
# A call of a parameter (``criterion(probs, y)``): the parameter, the call, and the
# value of its first argument.
Criterion = tuple[Param, cst.Call, Value]


@dataclass
class ClassInfo:
    methods: dict[str, cst.FunctionDef] = field(default_factory=dict)
    attrs: dict[str, Value] = field(default_factory=dict)
    bases: list[str] = field(default_factory=list)


@dataclass
class Scope:
    """One function (or the module body) being walked."""

    node: cst.CSTNode
    owner: str | None = None
    env: dict[str, Value] = field(default_factory=dict)
    sources: dict[str, cst.CSTNode] = field(default_factory=dict)
    returns: list[Value] = field(default_factory=list)
    _counts: Counter[str] | None = None

    def counts(self) -> Counter[str]:
        if self._counts is None:
            self._counts = Counter(
                node.value for node in walk(self.node) if isinstance(node, cst.Name)
            )
        return self._counts


def is_self_attribute(node: cst.BaseExpression, scope: Scope) -> bool:
    return (
        scope.owner is not None
        and isinstance(node, cst.Attribute)
        and isinstance(node.value, cst.Name)
        and node.value.value == "self"
    )


class WalkerState:
    def __init__(self, module: cst.Module) -> None:
        self.module = module
        self.imports = ImportMap.from_module(module)
        self.classes: dict[str, ClassInfo] = {}
        self.functions: dict[str, cst.FunctionDef] = {}
        self.globals: dict[str, Value] = {}
        self.summaries: dict[cst.FunctionDef, Value] = {}
        self.running: set[cst.FunctionDef] = set()
        # Losses inside a function whose input is one of its parameters, or what
        # calling one returns (``criterion(model(x), y)`` with ``model`` passed in).
        self.param_losses: dict[
            cst.FunctionDef, list[tuple[Param | Called, LossUse]]
        ] = {}
        # Calls of a parameter on a tensor: the parameter may be a loss object
        # (``def train(model, criterion): criterion(F.softmax(model(x), 1), y)``).
        self.param_criteria: dict[cst.FunctionDef, list[Criterion]] = {}
        self.record = False
        self.analysis = Analysis()
