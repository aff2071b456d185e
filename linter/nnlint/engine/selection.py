"""Rule selection as ruff does it: selectors, layers, and which one wins.

Selectors are codes or code prefixes (``NNL1``, ``NNL101``, ``ALL``). A layer either
replaces the selection (``select``) or adjusts it (``extend-select``, ``ignore``);
within one layer the more specific selector wins, and later layers win over earlier.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

SELECTOR = re.compile(r"^(ALL|N|NN|NNL[0-9]{0,3})$")


class ConfigError(ValueError):
    """A configuration or selector the user wrote is invalid (usage error, exit 2)."""


@dataclass(frozen=True)
class Selection:
    """One layer of rule selection (``select=None`` keeps the previous layer's set)."""

    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()


def matches(selector: str, code: str) -> bool:
    return selector == "ALL" or code.startswith(selector)


def specificity(selectors: Iterable[str], code: str) -> int:
    """Length of the longest selector matching ``code`` (-1 when none; ALL counts 0)."""
    best = -1
    for selector in selectors:
        if matches(selector, code):
            best = max(best, 0 if selector == "ALL" else len(selector))
    return best


def layer_decision(layer: Selection, code: str, enabled: bool) -> bool:
    chosen = specificity((*(layer.select or ()), *layer.extend_select), code)
    if layer.select is not None:
        enabled = chosen >= 0
    elif chosen >= 0:
        enabled = True
    ignored = specificity(layer.ignore, code)
    if ignored >= 0 and ignored >= chosen:
        enabled = False
    return enabled


def check_selector(selector: str) -> None:
    if not isinstance(selector, str) or not SELECTOR.match(selector):
        raise ConfigError(
            f"invalid rule selector {selector!r}: expected a code or prefix such as "
            "'NNL101', 'NNL1', 'NNL' or 'ALL'"
        )


def upper_selectors(selectors: Iterable[str]) -> tuple[str, ...]:
    return tuple(selector.strip().upper() for selector in selectors if selector.strip())
