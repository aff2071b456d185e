"""nnlint graph mode (``nnlint --fx``): trace models with torch.fx and run graph rules.

This package imports without torch; torch is imported inside the functions that need it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nnlint.findings import Finding
    from nnlint.fx.rules import GraphRule
    from nnlint.fx.run_summary import GraphRun

__all__ = ["analyze_model", "run_graph", "run_graph_mode"]


def analyze_model(
    model: Any,
    example_inputs: Any,
    loss_fn: Any = None,
    *,
    rules: Sequence[type[GraphRule]] | None = None,
    origin: tuple[str, int] | None = None,
    route: str = "traced",
) -> list[Finding]:
    """Graph-rule findings for ``model`` traced on ``example_inputs`` (a tuple of
    positional inputs, a dict of keyword inputs as in ``model(**batch)``; a lone
    tensor is accepted). ``loss_fn`` enables the rules that
    judge the model against its loss. ``origin`` ``(path, line)`` positions findings
    that have no user source line (a bare ``nn.Sequential``). The model is never
    mutated. ``route="recorded"`` takes the graph from one real forward pass (what
    ``check()`` does) instead of tracing it; see ``nnlint.fx.recording``."""
    from nnlint.fx.analysis import analyze_model as analyze

    return analyze(
        model, example_inputs, loss_fn, rules=rules, origin=origin, route=route
    )


def run_graph_mode(paths: Sequence[str], config: Any = None) -> list[Finding]:
    """Findings of graph mode on ``paths``: each file (and each model configured in
    ``[tool.nnlint.fx]``) is imported and analysed in a child process with a time
    limit."""
    from nnlint.fx.subprocess_runner import run_graph_mode as run

    return run(paths, config)


def run_graph(paths: Sequence[str], config: Any = None) -> GraphRun:
    """``run_graph_mode``'s findings with what the run built: files imported, models
    configured and analysed (``GraphRun.summary()`` is the line ``nnlint --fx``
    prints)."""
    from nnlint.fx.subprocess_runner import run_graph as run

    return run(paths, config)
