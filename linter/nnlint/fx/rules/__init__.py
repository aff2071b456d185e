"""Graph-rule registry: every ``nnl6<dd>_*.py`` module here defines one graph rule.

Listing the rules imports no torch: rule modules import it inside methods only.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from nnlint.fx.rules.base import GraphInvalid, GraphReport, GraphRule

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
    found: list[type[GraphRule]] = []
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("nnl"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, GraphRule)
                and value is not GraphRule
                and value.__module__ == module.__name__
                and getattr(value, "CODE", None)
            ):
                found.append(value)
    return tuple(sorted(found, key=lambda rule: rule.CODE))


def graph_rule_by_code(code: str) -> type[GraphRule] | None:
    for rule in all_graph_rules():
        if rule.CODE == code.upper() or rule.NAME == code:
            return rule
    return None
