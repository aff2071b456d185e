"""Rule discovery shared by the source and graph rule registries."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from operator import attrgetter
from typing import TypeVar

RuleClass = TypeVar("RuleClass")


def discover(
    package: str, path: Iterable[str], base: type[RuleClass]
) -> tuple[type[RuleClass], ...]:
    """Subclasses of ``base`` with a ``CODE``, defined in the ``nnl*`` modules of
    ``package``, sorted by code: adding a rule file adds a rule."""
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
    return tuple(sorted(found, key=attrgetter("CODE")))
