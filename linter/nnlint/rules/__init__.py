"""Rule registry: every ``nnl<digits>_*.py`` module in this package defines one rule."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from nnlint.rules.base import Invalid, Rule, RuleContext

__all__ = ["Invalid", "Rule", "RuleContext", "all_rules", "rule_by_code"]


@cache
def all_rules() -> tuple[type[Rule], ...]:
    """Rule classes sorted by code; found by module name: a new file is a new rule."""
    found: list[type[Rule]] = []
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("nnl"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Rule)
                and value is not Rule
                and value.__module__ == module.__name__
                and getattr(value, "CODE", None)
            ):
                found.append(value)
    return tuple(sorted(found, key=lambda rule: rule.CODE))


def rule_by_code(code: str) -> type[Rule] | None:
    for rule in all_rules():
        if rule.CODE == code.upper() or rule.NAME == code:
            return rule
    return None
