"""Point the loss, step function and optimizer factory at the copy check() trains.

``check()`` trains a deep copy of the model. A callable that refers to the caller's
model (``lambda out, y: crit(model.head(out), y)``, a loss object holding the model, a
bound method of such an object, an optimizer factory calling ``model.parameters()``)
would otherwise run the caller's modules: the copy is judged on an inconsistent
training step and the caller's model gets gradients. So each such callable is copied
together with the model, with the model's deepcopy memo, so every reference to the
model or one of its submodules inside it points to the copy:

* objects (loss modules, helpers, bound methods' ``self``, partials, containers) go
  through ``copy.deepcopy`` with that memo;
* functions, which deepcopy treats as atoms, are rebuilt with new closure cells holding
  copies of their contents (and copied defaults and ``__dict__``);
* whatever does not reach the model is shared, not copied (a metrics list the loss
  appends to stays the caller's).

* a function that reaches the model through a module-level global (a loss defined at
  the top of a script) runs with a private shallow copy of its module's namespace in
  which that global names the copy; the module is never changed.

A function that reaches the model through a global *and assigns* globals cannot run on
a private namespace without losing its writes, and some objects refuse to be copied:
both are a ``RewireError`` (a ``ValueError``) naming the argument and the part of the
model it refers to.
"""

from __future__ import annotations

import copy
import types
from typing import Any

from torch import nn

from pytest_nnhealth.training.reach import Reach, stored_globals, walk


class RewireError(ValueError):
    """A callable refers to the model in a way check() cannot point at the copy."""


_ADVICE = {
    "loss_fn": "pass step_fn(model, batch) that takes the model as an argument",
    "step_fn": "use the `model` argument step_fn receives instead",
    "optimizer": "build the optimizer from the `params` the factory receives",
}
# For a function the model keeps as an attribute (``rewire_attributes``).
_ATTRIBUTE_ADVICE = "call the submodules in a method of the module instead"


def _advice(argument: str) -> str:
    return _ADVICE.get(argument, _ATTRIBUTE_ADVICE)


def owned_names(model: nn.Module, memo: dict[int, Any]) -> dict[int, str | None]:
    """id -> name of every object the model holds (the keys of its deepcopy memo)."""
    owned: dict[int, str | None] = {key: None for key in memo if key != id(memo)}
    for named in (
        model.named_buffers(),
        model.named_parameters(),
        model.named_modules(),
    ):
        for name, obj in named:
            owned[id(obj)] = name
    return owned


def rewire(
    callables: dict[str, Any], model: nn.Module, memo: dict[int, Any]
) -> dict[str, Any]:
    """Each callable, copied onto the model's copy when it refers to the model.

    ``memo`` is the memo of ``copy.deepcopy(model, memo)``; it is not changed (one
    working memo is shared by all the callables, so two of them holding the same object
    get the same copy)."""
    owned = owned_names(model, memo)
    work: dict[int, Any] = dict(memo)
    out: dict[str, Any] = {}
    for argument, value in callables.items():
        if value is None:
            out[argument] = None
            continue
        if id(value) in owned:  # e.g. loss_fn=model.criterion
            out[argument] = memo[id(value)]
            continue
        reach = walk(value, owned)
        if id(value) not in reach.reaching:
            out[argument] = value
            continue
        _refuse_global_writes(argument, reach)
        out[argument] = _copied(argument, value, reach, work)
    return out


def rewire_attributes(model: nn.Module, clone: nn.Module, memo: dict[int, Any]) -> None:
    """Point functions kept as attributes of ``clone``'s modules at ``clone``.

    ``copy.deepcopy`` shares functions, so a closure a module keeps over its own
    submodules (minGPT's ``self.mlpf = lambda x: m.dropout(m.c_proj(...))``) would
    make the copy's forward run the caller's modules. Each function attribute that
    reaches ``model`` is rebuilt on the copy, as the loss is; the others stay shared."""
    found = {
        (path, name): value
        for path, module in clone.named_modules()
        for name, value in vars(module).items()
        if isinstance(value, types.FunctionType)
    }
    if not found:
        return
    labels = {key: f"{key[0]}.{key[1]}" if key[0] else key[1] for key in found}
    wired = rewire({labels[key]: fn for key, fn in found.items()}, model, memo)
    for (path, name), fn in found.items():
        if wired[labels[path, name]] is not fn:
            vars(clone.get_submodule(path))[name] = wired[labels[path, name]]


def _refuse_global_writes(argument: str, reach: Reach) -> None:
    for function_id, name in reach.globals_reaching:
        function = reach.nodes[function_id]
        written = stored_globals(function.__code__)
        if written:
            part = _part(reach.reaching.get(function_id))
            raise RewireError(
                f"check(): `{argument}` refers to {part} through the module-level "
                f"global `{name}` and assigns module-level globals "
                f"({', '.join(f'`{w}`' for w in sorted(written))}) in "
                f"`{function.__qualname__}`, so it cannot run on a private copy of its "
                f"module's globals; {_advice(argument)}"
            )


def _copied(argument: str, value: Any, reach: Reach, work: dict[int, Any]) -> Any:
    for key, obj in [*reach.nodes.items(), *reach.tensors.items()]:
        if key not in reach.reaching and key not in reach.private:
            work.setdefault(key, obj)  # shared: it does not lead to the model
    via_globals = {key for key, _ in reach.globals_reaching}
    namespaces: dict[int, dict[str, Any]] = {}
    shells = {
        key: _shell(obj, work, namespaces if key in via_globals else None)
        for key, obj in reach.nodes.items()
        if key in reach.reaching
        and isinstance(obj, types.FunctionType)
        and key not in work
    }
    try:
        for key, shell in shells.items():
            _fill(reach.nodes[key], shell, work)
        for key, name in reach.globals_reaching:
            original = reach.nodes[key].__globals__
            if id(original) in namespaces:
                namespaces[id(original)][name] = copy.deepcopy(original[name], work)
        return copy.deepcopy(value, work)
    except Exception as error:  # noqa: BLE001 - any copy failure gets the same advice
        part = _part(reach.reaching[id(value)])
        raise RewireError(
            f"check(): `{argument}` refers to {part} and cannot be copied "
            f"({type(error).__name__}: {error}); {_advice(argument)}"
        ) from error


def _part(name: str | None) -> str:
    if name is None:
        return "an object the model holds"
    return "the model" if name == "" else f"the model's `{name}`"


def _shell(
    fn: types.FunctionType,
    work: dict[int, Any],
    namespaces: dict[int, dict[str, Any]] | None,
) -> types.FunctionType:
    """A new function with the same code and empty cells, registered in the memo
    first so that recursive references (a closure over itself) find it.

    A function that reaches the model through a module-level global gets a private
    shallow copy of its module's namespace (one per module, shared by its functions),
    in which those globals are then pointed at the copy; the module itself is never
    changed, and functions that write globals were refused before."""
    namespace = fn.__globals__
    if namespaces is not None:
        namespace = namespaces.setdefault(id(namespace), dict(namespace))
    cells = tuple(types.CellType() for _ in fn.__closure__ or ())
    shell = types.FunctionType(fn.__code__, namespace, fn.__name__, None, cells or None)
    shell.__qualname__ = fn.__qualname__
    shell.__module__ = fn.__module__
    shell.__doc__ = fn.__doc__
    work[id(fn)] = shell
    return shell


def _fill(
    fn: types.FunctionType, shell: types.FunctionType, work: dict[int, Any]
) -> None:
    for old, new in zip(fn.__closure__ or (), shell.__closure__ or (), strict=True):
        try:
            contents = old.cell_contents
        except ValueError:  # empty cell: stays empty
            continue
        new.cell_contents = copy.deepcopy(contents, work)
    shell.__defaults__ = copy.deepcopy(fn.__defaults__, work)
    shell.__kwdefaults__ = copy.deepcopy(fn.__kwdefaults__, work)
    shell.__annotations__ = fn.__annotations__
    shell.__dict__.update(copy.deepcopy(vars(fn), work))
