"""The file an analysis reads, and the memo that computes each analysis of it once.

An analysis is a plain function of a context (``file_model(context)``,
``loss_flow(context)``); ``context.get(analysis)`` runs it on the first request and
hands every later caller, whichever rule it is, the same result. The memo lives on the
context, and the engine builds one context per parsed tree, so nothing outlives the
file and nothing is shared between files, threads or worker processes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import libcst as cst

from nnlint.analysis.names import ImportMap

T = TypeVar("T")


@dataclass
class AnalysisContext:
    """One parsed file: its path, tree and import map, and the per-file memo."""

    path: str
    module: cst.Module
    imports: ImportMap
    _memo: dict[Callable[..., Any], Any] = field(
        default_factory=dict, init=False, repr=False
    )

    def get(self, analysis: Callable[[AnalysisContext], T]) -> T:
        """``analysis(self)``, computed on the first request only (keyed by the
        function itself, so two analyses can never share a slot by name)."""
        try:
            found: T = self._memo[analysis]
        except KeyError:
            found = self._memo[analysis] = analysis(self)
        return found

    def close(self) -> None:
        """Forget every analysis once the file is done. Analyses refer back to each
        other (a class model and the flows of its methods), so without this the
        parsed tree they hold waits for the garbage collector instead of being freed
        at once; an analysis with such links offers ``release()`` to cut them."""
        for found in self._memo.values():
            release = getattr(found, "release", None)
            if callable(release):
                release()
        self._memo.clear()

    def resolve(self, node: cst.BaseExpression) -> str | None:
        """``torch.nn.functional.softmax`` for ``F.softmax``; None if not imported."""
        return self.imports.resolve(node)


class WalkPosition(Protocol):
    """A file and where the rules' shared walk is in it (``RuleContext`` is one),
    for the analyses that answer about the node being visited."""

    module: cst.Module
    # Ancestors of the node being visited, outermost first.
    ancestors: list[cst.CSTNode]
