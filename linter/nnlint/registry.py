"""Rule discovery shared by the source and graph rule registries."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterable
from functools import cache
from operator import attrgetter
from pathlib import Path
from typing import TypeVar

RuleClass = TypeVar("RuleClass")
_RULE_FILE = re.compile(r"nnl([0-9]{3})_\w+\.py$")


class RuleDeclarationError(TypeError):
    """A rule class declares something the engine cannot honour (raised at load)."""


def discover(
    package: str,
    path: Iterable[str],
    base: type[RuleClass],
    check: Callable[[type], list[str]] | None = None,
) -> tuple[type[RuleClass], ...]:
    """Subclasses of ``base`` with a ``CODE``, defined in the ``nnl*`` modules of
    ``package``, sorted by code: adding a rule file adds a rule.

    ``check`` lists what is wrong with a rule class; any problem is raised as a
    :class:`RuleDeclarationError` naming the rule, so a bad declaration fails when
    the rules load instead of silently changing findings."""
    found: list[type[RuleClass]] = []
    for info in pkgutil.iter_modules(path):
        if not info.name.startswith("nnl"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, base)
                and value is not base
                and value.__module__ == module.__name__
                and getattr(value, "CODE", None)
            ):
                found.append(value)
    if check is not None:
        _raise_problems(found, check)
    return tuple(sorted(found, key=attrgetter("CODE")))


def _raise_problems(rules: list[type], check: Callable[[type], list[str]]) -> None:
    lines = [
        f"{rule.CODE} ({rule.__module__}.{rule.__qualname__}): {problem}"  # type: ignore[attr-defined]
        for rule in rules
        for problem in check(rule)
    ]
    if lines:
        raise RuleDeclarationError("invalid rule declaration:\n" + "\n".join(lines))


@cache
def known_codes() -> frozenset[str]:
    """Codes of every source and graph rule, from the rule modules' file names
    (``nnl101_*.py`` -> ``NNL101``), so checking a selector imports no rule."""
    package = Path(__file__).parent
    return frozenset(
        f"NNL{match.group(1)}"
        for folder in (package / "rules", package / "fx" / "rules")
        for file in folder.glob("nnl*_*.py")
        if (match := _RULE_FILE.match(file.name))
    )
