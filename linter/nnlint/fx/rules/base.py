"""The contract every graph rule follows (importable without torch).

A graph rule is a read-only pass over a :class:`~nnlint.fx.graph.GraphView` (a
traced ``torch.fx.GraphModule`` plus the real model, propagated shapes and the
configured loss). It only calls :meth:`GraphRule.report`; the engine turns reports into
findings with the user's source line, taken from the node's recorded stack trace. Rules
import torch inside methods only, so the registry can list them (``nnlint rules``,
docs) without torch.

Examples are tiny inline models: each VALID string and each ``GraphInvalid.code`` is
Python source that defines ``model`` and ``example_inputs`` (a tuple) and optionally
``loss_fn``; the tests exec it under the file name ``example.py`` and run the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from nnlint.findings import Severity

if TYPE_CHECKING:
    from nnlint.fx.graph import GraphView


@dataclass(frozen=True)
class GraphInvalid:
    """An example model the rule must flag; ``line`` pins the first finding's line."""

    code: str
    line: int | None = None


@dataclass
class GraphReport:
    """What a rule said about a graph node (or a fixed location), before it becomes a
    Finding. ``node`` is a ``torch.fx.Node``; ``location`` overrides its stack trace."""

    node: Any
    message: str
    severity: Severity | None = None
    location: tuple[str, int] | None = None


class GraphRule:
    CODE: ClassVar[str]
    NAME: ClassVar[str]
    MESSAGE: ClassVar[str]
    SEVERITY: ClassVar[Severity] = "error"
    FIX_TITLE: ClassVar[str | None] = None
    FIX_IS_SAFE: ClassVar[bool] = False
    VALID: ClassVar[list[str]] = []
    INVALID: ClassVar[list[GraphInvalid]] = []
    # Reported by the engine or the subprocess runner rather than by ``run`` (tool
    # failures, untraceable models): registered for docs and ``nnlint rule``, no pass.
    REPORTED_BY_ENGINE: ClassVar[bool] = False
    # Source rules that report the same defect (this rule sees it on the traced
    # graph): when both report the same call or the same module (the source finding
    # sits where the module was constructed), ``nnlint.fx.policy.merge_graph_findings``
    # keeps the source finding only, and a suppression of the source code silences
    # the graph twin too.
    DUPLICATES: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.reports: list[GraphReport] = []

    def run(self, graph: GraphView) -> None:
        """Inspect ``graph`` and call :meth:`report`; never mutate graph or model."""

    def report(
        self,
        node: Any,
        message: str | None = None,
        *,
        severity: Severity | None = None,
        location: tuple[str, int] | None = None,
    ) -> None:
        self.reports.append(
            GraphReport(node, message or self.MESSAGE, severity, location)
        )
