"""Which objects inside a callable refer to the model: the walk behind ``rewire``.

A loss such as ``lambda out, y: crit(model.head(out), y)`` holds the caller's model in
a closure cell. ``copy.deepcopy`` treats functions as atoms, so copying it with the
model's memo would not point it at the copy. The walk here follows what a callable
holds (closure cells, defaults, bound ``self``, ``functools.partial`` arguments,
containers, object attributes, and the module-level globals its code loads) and marks
every object from which the model can be reached, remembering which functions reach it
through a module-level global (those get a private copy of their module's globals).

The walk stops at objects the model holds (their ids are the keys of the model's
deepcopy memo), at tensors, classes and Python modules, and after ``MAX_NODES`` objects
(a loss that holds a whole dataset is not walked to the end; anything it hides is still
caught by the caller guard after the run).
"""

from __future__ import annotations

import dis
import functools
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

# Enough for any loss or step function seen in practice (a transformer loss object with
# its config walks ~300 objects); a bound on time for ones that hold datasets.
MAX_NODES = 20_000

_ATOMS = (
    type,
    types.ModuleType,
    types.BuiltinFunctionType,
    types.CodeType,
    str,
    bytes,
    int,
    float,
    complex,
    bool,
    type(None),
    torch.Tensor,
    torch.dtype,
    torch.device,
)


@dataclass
class Reach:
    """The walk's result: ``reaching`` maps the id of each object from which the model
    can be reached to the name of what it reaches first (``"head"``, ``"head.weight"``,
    ``""`` for the model itself, ``None`` for another object the model holds)."""

    nodes: dict[int, Any] = field(default_factory=dict)
    reaching: dict[int, str | None] = field(default_factory=dict)
    # (function id, global name) for every global whose value reaches the model.
    globals_reaching: list[tuple[int, str]] = field(default_factory=list)
    # Tensors met on the way that the model does not hold: shared, never copied.
    tensors: dict[int, torch.Tensor] = field(default_factory=dict)
    # Containers that are a module's own bookkeeping (``_parameters``, ``_modules``,
    # hook dicts): a copied module gets its own, even where they hold nothing shared.
    private: set[int] = field(default_factory=set)


def walk(root: Any, owned: dict[int, str | None]) -> Reach:
    """Walk ``root``; ``owned`` maps ids of the model's objects to their names."""
    reach = Reach()
    parents: dict[int, list[tuple[int, str | None]]] = {}
    pending = [root]
    while pending and len(reach.nodes) < MAX_NODES:
        obj = pending.pop()
        if id(obj) in reach.nodes or id(obj) in owned or _is(obj, _ATOMS):
            continue
        reach.nodes[id(obj)] = obj
        if _is(obj, nn.Module):
            reach.private.update(id(v) for v in vars(obj).values() if _container(v))
        for child, global_name in _children(obj):
            if _is(child, _ATOMS) and not _is_owned(child, owned):
                if _is(child, torch.Tensor):
                    reach.tensors[id(child)] = child
                continue
            parents.setdefault(id(child), []).append((id(obj), global_name))
            pending.append(child)
    _propagate(reach, parents, owned)
    return reach


def _is(obj: Any, kinds: type | tuple[type, ...]) -> bool:
    """``isinstance`` by the real type: never runs an object's ``__class__`` or
    ``__getattribute__`` (user objects, proxies)."""
    return issubclass(type(obj), kinds)


def _is_owned(obj: Any, owned: dict[int, str | None]) -> bool:
    return id(obj) in owned


def _propagate(
    reach: Reach,
    parents: dict[int, list[tuple[int, str | None]]],
    owned: dict[int, str | None],
) -> None:
    """Mark, backwards from the model's objects, everything that reaches them."""
    frontier = [(key, owned[key]) for key in parents if key in owned]
    while frontier:
        key, name = frontier.pop()
        for parent, global_name in parents.get(key, ()):
            if global_name is not None:
                reach.globals_reaching.append((parent, global_name))
            if parent not in reach.reaching:
                reach.reaching[parent] = name
                frontier.append((parent, name))


def _children(obj: Any) -> Iterator[tuple[Any, str | None]]:
    """What ``obj`` holds; the second item names the global it was loaded through."""
    if _is(obj, types.FunctionType):
        yield from _function_children(obj)
    elif _is(obj, types.MethodType):
        yield obj.__func__, None
        yield obj.__self__, None
    elif _is(obj, functools.partial):
        yield from ((item, None) for item in (obj.func, *obj.args))
        yield from ((item, None) for item in obj.keywords.values())
    elif _is(obj, dict):
        yield from ((item, None) for pair in obj.items() for item in pair)
    elif _is(obj, (list, tuple, set, frozenset)):
        yield from ((item, None) for item in obj)
    else:
        yield from ((item, None) for item in _attributes(obj))


def _function_children(fn: types.FunctionType) -> Iterator[tuple[Any, str | None]]:
    for cell in fn.__closure__ or ():
        try:
            yield cell.cell_contents, None
        except ValueError:  # an empty cell (a name assigned later in the outer scope)
            continue
    yield from ((item, None) for item in fn.__defaults__ or ())
    yield from ((item, None) for item in (fn.__kwdefaults__ or {}).values())
    yield from ((item, None) for item in vars(fn).values())
    for name in sorted(loaded_globals(fn.__code__)):
        if name in fn.__globals__:
            yield fn.__globals__[name], name


def loaded_globals(code: types.CodeType) -> set[str]:
    """Names the code (and the functions defined inside it) loads as globals: only real
    global loads, not attribute names that happen to match a global."""
    return _global_ops(code, ("LOAD_GLOBAL", "LOAD_NAME"))


def stored_globals(code: types.CodeType) -> set[str]:
    """Module-level names the code assigns or deletes (``global x; x = ...``)."""
    return _global_ops(code, ("STORE_GLOBAL", "DELETE_GLOBAL"))


def _global_ops(code: types.CodeType, opnames: tuple[str, ...]) -> set[str]:
    names = {ins.argval for ins in dis.get_instructions(code) if ins.opname in opnames}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_ops(const, opnames)
    return names


def _container(value: Any) -> bool:
    return _is(value, (dict, list, set))


def _attributes(obj: Any) -> list[Any]:
    """Instance attributes and slot values; an object whose attribute access raises
    (a proxy, a half-initialised extension type) is a leaf, not a crash."""
    try:
        values = list(getattr(obj, "__dict__", {}).values())
        for cls in type(obj).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                if isinstance(slot, str) and hasattr(obj, slot):
                    values.append(getattr(obj, slot))
    except Exception:  # noqa: BLE001 - arbitrary user objects
        return []
    return values
