"""Find the models graph mode checks, and build them with their example inputs.

This module imports user code; it runs in the graph-mode child process only.

Two sources, documented in ``docs/graph-mode.md``:

* ``[tool.nnlint.fx] models``: each entry is ``"pkg.mod:factory"`` or a table
  ``{factory = "pkg.mod:make", inputs = "pkg.mod:name", shapes = [...], loss = "..."}``.
  The factory (any callable, a model class included) returns a model; ``(model,
  inputs)``; ``(model, batch, loss_fn)`` (the nnhealth convention, ``batch = (inputs,
  target)``); or a dict with ``model``, ``inputs`` or ``batch``, ``loss_fn``.
* In each linted file, ``nn.Module`` classes defined there, constructible without
  arguments, whose instances have ``example_input_array`` (the Lightning convention).
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from torch import Tensor, nn

DTYPES = {"float32", "float16", "bfloat16", "float64", "int64", "int32", "bool"}


class BuildError(Exception):
    """A model or its inputs could not be built; the message names the cause."""


@dataclass
class Built:
    model: nn.Module
    inputs: tuple[Any, ...]
    loss: Any
    label: str
    origin: tuple[str, int]


@dataclass
class Candidate:
    """A model that can be built later (building runs user code: it may raise)."""

    label: str
    origin: tuple[str, int]
    build: Callable[[], Built | None]


def import_file(path: str) -> ModuleType:
    """Import ``path`` under its package's dotted name (relative imports work)."""
    path = os.path.abspath(path)
    directory, name = os.path.split(path)
    parts = [os.path.splitext(name)[0]]
    while os.path.isfile(os.path.join(directory, "__init__.py")):
        directory, package = os.path.split(directory)
        parts.insert(0, package)
    if parts[-1] == "__init__":
        parts.pop()
    if directory not in sys.path:
        sys.path.insert(0, directory)
    return importlib.import_module(".".join(parts))


def resolve(reference: str) -> Any:
    """The object named ``"pkg.mod:attr.sub"`` (``"pkg.mod.attr"`` also accepted)."""
    if ":" in reference:
        module_name, _, attribute = reference.partition(":")
    else:
        module_name, _, attribute = reference.rpartition(".")
    if not module_name or not attribute:
        raise BuildError(f"{reference!r} is not an import path like 'pkg.mod:name'")
    value: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise BuildError(
                f"{module_name!r} has no attribute {attribute!r}"
            ) from None
    return value


def file_candidates(module: ModuleType) -> Iterator[Candidate]:
    """``nn.Module`` classes defined in ``module`` that mention ``example_input_array``
    and can be built without arguments."""
    for value in list(vars(module).values()):
        if not (
            isinstance(value, type)
            and issubclass(value, nn.Module)
            and value.__module__ == module.__name__
            and _mentions_example_input(value)
            and _constructible_without_arguments(value)
        ):
            continue
        yield Candidate(value.__qualname__, origin_of(value), _class_builder(value))


def _class_builder(cls: type[nn.Module]) -> Callable[[], Built | None]:
    def build() -> Built | None:
        model = cls()
        example = getattr(model, "example_input_array", None)
        if example is None:  # e.g. a LightningModule that never set it: not a model
            return None  # graph mode can run
        return Built(model, as_inputs(example), None, cls.__qualname__, origin_of(cls))

    return build


def _mentions_example_input(cls: type) -> bool:
    """Some class in the MRO (user code or a framework base) mentions the attribute;
    only then is the class worth constructing."""
    for klass in cls.__mro__:
        if klass.__module__.startswith("torch."):
            break
        if "example_input_array" in vars(klass):
            return True
        try:
            if "example_input_array" in inspect.getsource(klass):
                return True
        except (OSError, TypeError):
            continue
    return False


def _constructible_without_arguments(cls: type) -> bool:
    if inspect.isabstract(cls):
        return False
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return False
    return all(
        p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        for p in signature.parameters.values()
    )


def configured_candidate(entry: Any, fx: Mapping[str, Any]) -> Candidate:
    """A candidate for one ``[tool.nnlint.fx] models`` entry (raises BuildError)."""
    if isinstance(entry, str):
        entry = {"factory": entry}
    if not isinstance(entry, Mapping) or not isinstance(entry.get("factory"), str):
        raise BuildError(
            f"model entry {entry!r} needs a 'factory' import path like 'pkg.mod:make'"
        )
    unknown = set(entry) - {"factory", "inputs", "shapes", "loss"}
    if unknown:
        raise BuildError(
            f"model entry has unknown key(s): {', '.join(sorted(unknown))}"
        )
    label = entry["factory"]
    factory = resolve(label)
    if not callable(factory):
        raise BuildError(f"{label} is not callable")
    origin = origin_of(factory)

    def build() -> Built:
        model, inputs, loss = unpack(factory(), label)
        if "inputs" in entry:
            value = resolve(entry["inputs"])
            inputs = as_inputs(value() if callable(value) else value)
        elif "shapes" in entry:
            inputs = shapes_to_inputs(entry["shapes"])
        if inputs is None:
            example = getattr(model, "example_input_array", None)
            if example is None:
                raise BuildError(
                    f"{label}: no example inputs (return (model, inputs), set "
                    "'inputs' or 'shapes', or give the model example_input_array)"
                )
            inputs = as_inputs(example)
        loss = entry.get("loss", fx.get("loss", loss))
        return Built(model, inputs, loss, label, origin)

    return Candidate(label, origin, build)


def unpack(result: Any, label: str) -> tuple[nn.Module, tuple[Any, ...] | None, Any]:
    """``(model, inputs or None, loss or None)`` from what a factory returned."""
    if isinstance(result, Mapping):
        batch = result.get("batch")
        inputs = result.get(
            "inputs", batch_inputs(batch) if batch is not None else None
        )
        result = (result.get("model"), inputs, result.get("loss_fn"))
        model, inputs, loss = result
    elif isinstance(result, nn.Module):
        model, inputs, loss = result, None, None
    elif isinstance(result, tuple) and len(result) == 2:
        model, inputs, loss = result[0], result[1], None
    elif isinstance(result, tuple) and len(result) == 3:
        model, inputs, loss = result[0], batch_inputs(result[1]), result[2]
    else:
        raise BuildError(
            f"{label} returned {type(result).__name__}; expected a model, "
            "(model, inputs) or (model, batch, loss_fn)"
        )
    if not isinstance(model, nn.Module):
        raise BuildError(f"{label} did not return an nn.Module")
    return model, None if inputs is None else as_inputs(inputs), loss


def batch_inputs(batch: Any) -> Any:
    """The inputs of an nnhealth batch ``(inputs, target)``; a lone tensor is inputs."""
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0]
    return batch


def as_inputs(value: Any) -> tuple[Any, ...]:
    if isinstance(value, Tensor):
        return (value,)
    if isinstance(value, (tuple, list)):
        return tuple(value)
    raise BuildError(
        "example inputs must be a tensor or a tuple of them, "
        f"not {type(value).__name__}"
    )


def shapes_to_inputs(shapes: Any) -> tuple[Any, ...]:
    """Inputs from ``[[2, 3, 32, 32], {shape = [2, 16], dtype = "int64"}]`` (zeros)."""
    import torch

    if not isinstance(shapes, list) or not shapes:
        raise BuildError("'shapes' must be a non-empty list of shapes")
    inputs = []
    for spec in shapes:
        if isinstance(spec, list):
            spec = {"shape": spec}
        shape, dtype = spec.get("shape"), spec.get("dtype", "float32")
        if not (isinstance(shape, list) and all(isinstance(s, int) for s in shape)):
            raise BuildError(f"bad shape {spec!r}: expected a list of integers")
        if dtype not in DTYPES:
            raise BuildError(f"bad dtype {dtype!r}: expected one of {sorted(DTYPES)}")
        # Meta tensors: a shape and a dtype, no memory; fake tensors accept them.
        inputs.append(torch.zeros(shape, dtype=getattr(torch, dtype), device="meta"))
    return tuple(inputs)


def origin_of(value: Any) -> tuple[str, int]:
    """Where ``value`` (a class or function) is defined."""
    target = inspect.unwrap(value) if callable(value) else value
    try:
        path = inspect.getsourcefile(target) or inspect.getfile(target)
        return os.path.abspath(path), inspect.getsourcelines(target)[1]
    except (OSError, TypeError):
        return "<unknown>", 1
