"""Graph-rule registry: every ``nnl6<dd>_*.py`` module here defines one graph rule.

Listing the rules imports no torch: rule modules import it inside methods only.
"""

from __future__ import annotations

from functools import cache

from nnlint.fx.rules.base import GraphInvalid, GraphReport, GraphRule
from nnlint.registry import discover

__all__ = [
    "GraphInvalid",
    "GraphReport",
    "GraphRule",
    "all_graph_rules",
    "graph_rule_by_code",
]


@cache
def all_graph_rules() -> tuple[type[GraphRule], ...]:
    """Graph rule classes sorted by code (engine-reported ones included)."""
    return discover(__name__, __path__, GraphRule)


def graph_rule_by_code(code: str) -> type[GraphRule] | None:
    for rule in all_graph_rules():
        if rule.CODE == code.upper() or rule.NAME == code:
            return rule
    return None
