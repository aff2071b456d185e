"""Cheaper constructors for libcst's node classes, used only while the parser runs.

libcst's native parser builds every node by calling its Python class with keyword
arguments. The nodes are frozen, slotted dataclasses, so the generated ``__init__``
stores each field through ``object.__setattr__`` (a generic attribute lookup per
field) and then calls ``__post_init__``, which only validates (see
:mod:`nnlint.engine.parsing`). The constructors built here take the same parameters
with the same defaults and store each field through its slot descriptor directly,
without validation: about 8% of the parse of timm (``bench/parse_cost.py``).

A class is given one only when everything that makes it equivalent is checked: its
``__init__`` is the one ``dataclasses`` generated, every field is an ``__init__``
parameter and not keyword-only, and its ``__post_init__`` is the validating hook.
Anything else (a libcst release that changes a node class) keeps the class's own
constructor, so the tree is the same either way (``tests/nnlint/test_parsing.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

from libcst._nodes.base import CSTNode

Initialiser = Callable[..., None]


def _subclasses(root: type) -> Iterator[type]:
    child: type
    for child in root.__subclasses__():
        yield child
        yield from _subclasses(child)


@cache
def fast_initialisers(
    validating_hook: object, shared_defaults: bool = False
) -> dict[type, Initialiser]:
    """A constructor for each node class it is provably equivalent for.

    ``shared_defaults``: a field whose default is made by a factory for each node
    (the whitespace of every node) gets one instance made once and shared by all
    nodes. Only for trees that are read, never edited, and whose formatting nodes are
    never told apart by identity: the first pass's trees
    (:mod:`nnlint.engine.cst_from_ast`), where those factories were most of the cost.
    """
    built: dict[type, Initialiser] = {}
    for node_class in set(_subclasses(CSTNode)):
        initialiser = _initialiser(node_class, validating_hook, shared_defaults)
        if initialiser is not None:
            built[node_class] = initialiser
    return built


def _initialiser(
    node_class: type, validating_hook: object, shared_defaults: bool
) -> Initialiser | None:
    own = vars(node_class).get("__init__")
    if (
        not dataclasses.is_dataclass(node_class)
        or own is None
        or own.__code__.co_filename != "<string>"  # not the generated one
        or getattr(node_class, "__post_init__", None) is not validating_hook
    ):
        return None
    namespace: dict[str, Any] = {"_MISSING": dataclasses.MISSING}
    parameters, body = [], []
    for field in dataclasses.fields(node_class):
        slot = _slot(node_class, field.name)
        if not field.init or field.kw_only or slot is None:
            return None
        name = field.name
        namespace[f"_set_{name}"] = slot.__set__
        if field.default is not dataclasses.MISSING:
            namespace[f"_default_{name}"] = field.default
            parameters.append(f"{name}=_default_{name}")
        elif field.default_factory is not dataclasses.MISSING and shared_defaults:
            namespace[f"_default_{name}"] = field.default_factory()
            parameters.append(f"{name}=_default_{name}")
        elif field.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{name}"] = field.default_factory
            parameters.append(f"{name}=_MISSING")
            body.append(f"    if {name} is _MISSING: {name} = _factory_{name}()")
        else:
            parameters.append(name)
        body.append(f"    _set_{name}(self, {name})")
    source = f"def __init__(self, {', '.join(parameters)}):\n"
    exec(source + "\n".join(body or ["    pass"]), namespace)  # noqa: S102
    initialiser: Initialiser = namespace["__init__"]
    return initialiser


def _slot(node_class: type, name: str) -> Any:
    """The slot descriptor storing field ``name``, or None if it is not a slot."""
    for owner in node_class.__mro__:
        found = vars(owner).get(name)
        if found is not None:
            return found if type(found).__name__ == "member_descriptor" else None
    return None
