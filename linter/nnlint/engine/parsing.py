"""``libcst.parse_module`` without libcst's per-node validation.

Every libcst node validates itself when it is constructed (``CSTNode.__post_init__``
calls ``_validate``: are the parentheses balanced, is the whitespace legal, ...). That
guards trees built by hand; a tree the parser built from source is valid by
construction, and the checks cost about 12% of parsing (all of timm: 9.45 CPU s with
them, 8.29 s without, ``bench/parse_cost.py``). libcst's own comment on
``__post_init__`` notes the same.

The switch is made only while the parser runs, and only when ``__post_init__`` does
nothing but validate (checked on its byte code), so a libcst release that gives it
other work is parsed the ordinary way. Nodes built by rules for fixes are still
validated, and a fixed file is re-parsed before it is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import libcst as cst
from libcst._nodes.base import CSTNode

from nnlint.engine.node_init import fast_initialisers

_VALIDATING_HOOK = CSTNode.__post_init__


def _skip_validation(self: CSTNode) -> None:
    return None


def _only_validates() -> bool:
    code = _VALIDATING_HOOK.__code__
    return code.co_names == ("_validate",) and CSTNode.__post_init__ is _VALIDATING_HOOK


_SKIPPABLE = _only_validates()
# The dataclass-generated constructors, put back after each parse.
_GENERATED = {
    node_class: vars(node_class)["__init__"]
    for node_class in (fast_initialisers(_VALIDATING_HOOK) if _SKIPPABLE else {})
}


def parse_module(source: str) -> cst.Module:
    """Like ``libcst.parse_module`` (same tree, same errors), about 20% faster:
    no validation, and node classes built by :mod:`nnlint.engine.node_init`."""
    with fast_construction():
        return cst.parse_module(source)


@contextmanager
def fast_construction(shared_defaults: bool = False) -> Iterator[None]:
    """Within it, libcst nodes are built without validation, through their slots
    (for trees built from a parse that succeeded: the parser's, or ``ast``'s);
    ``shared_defaults`` as in :func:`nnlint.engine.node_init.fast_initialisers`."""
    if not _SKIPPABLE:
        yield
        return
    fast = fast_initialisers(_VALIDATING_HOOK, shared_defaults)
    CSTNode.__post_init__ = _skip_validation  # type: ignore[method-assign]
    for node_class, initialiser in fast.items():
        node_class.__init__ = initialiser  # type: ignore[misc]
    try:
        yield
    finally:
        for node_class in fast:
            node_class.__init__ = _GENERATED[node_class]  # type: ignore[misc]
        CSTNode.__post_init__ = _VALIDATING_HOOK  # type: ignore[method-assign]


def warm_up() -> None:
    """Build the fast constructors now (they are built on the first parse anyway)."""
    if _SKIPPABLE:
        fast_initialisers(_VALIDATING_HOOK)
        fast_initialisers(_VALIDATING_HOOK, True)
