"""Base class for rules whose detection lives in the engine, not in a tree walk.

Syntax errors, undecodable files and unused suppressions cannot be seen by a visitor
(there is no tree, or comments are hidden from rules on purpose). Their classes exist so
that they have a code, a name, documentation and examples like every other rule; the
engine never walks them.
"""

from __future__ import annotations

from typing import ClassVar

from nnlint.rules.base import Rule


class EngineRule(Rule):
    ENGINE_LEVEL: ClassVar[bool] = True


def is_engine_rule(rule: type[Rule]) -> bool:
    return bool(getattr(rule, "ENGINE_LEVEL", False))
