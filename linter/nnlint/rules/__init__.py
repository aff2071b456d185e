"""Rule registry: every ``nnl<digits>_*.py`` module in this package defines one rule."""

from __future__ import annotations

from functools import cache

from nnlint.registry import discover
from nnlint.rules.base import Invalid, Rule, RuleContext
from nnlint.rules.needs import declaration_problems

__all__ = ["Invalid", "Rule", "RuleContext", "all_rules", "rule_by_code"]


@cache
def all_rules() -> tuple[type[Rule], ...]:
    """Rule classes sorted by code; found by module name: a new file is a new rule.
    Each rule's pre-filter declaration (``NEEDS``) is checked as it loads."""
    return discover(__name__, __path__, Rule, declaration_problems)


def rule_by_code(code: str) -> type[Rule] | None:
    for rule in all_rules():
        if rule.CODE == code.upper() or rule.NAME == code:
            return rule
    return None
