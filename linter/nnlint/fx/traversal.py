"""Graph traversal shared by the graph analysis and the graph rules.

Torch-free on purpose: graph rule modules import it, and `nnlint rules` lists them
where torch is not installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any


def walk(
    starts: Iterable[Any], follow: Callable[[Any], Iterable[Any]]
) -> Iterator[Any]:
    """Every node reachable from ``starts`` once, depth first; ``follow(node)`` (the
    next nodes: inputs, users, or none) is asked only after the caller has seen
    ``node``, so a search can stop at what it looks for before going past it."""
    pending, seen = list(starts), set()
    while pending:
        node = pending.pop()
        if node in seen:
            continue
        seen.add(node)
        yield node
        pending.extend(follow(node))
