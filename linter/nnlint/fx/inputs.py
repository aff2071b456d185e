"""Example inputs as the tracers need them: positional, or keyword (``model(**batch)``).

A dict of keyword inputs (a transformers batch: ``input_ids``, ``attention_mask``,
``labels``) names some of ``forward``'s parameters and leaves the others at their
defaults. Symbolic tracing then fixes the omitted ones at their defaults
(``concrete_args``), so ``if labels is not None`` takes the branch the real call takes;
the traced graph keeps one placeholder per parameter, so the values for shape
propagation are listed in ``forward``'s order with the defaults filled in.
``torch.export`` and eager runs take the keywords as they are.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from torch import nn


@dataclass(frozen=True)
class ExampleInputs:
    # One value per placeholder of a symbolically traced graph (forward's order).
    args: tuple[Any, ...]
    # Parameters not given, fixed at their defaults while tracing symbolically.
    concrete: dict[str, Any] = field(default_factory=dict)
    # The keyword inputs as given (None for positional inputs).
    keywords: dict[str, Any] | None = None


def example_inputs(model: nn.Module, inputs: Any) -> ExampleInputs:
    """``inputs`` (a tuple/list, a dict of keyword inputs, or one value) ready for
    tracing ``model``. Raises ``TypeError`` for a keyword ``forward`` does not take."""
    if isinstance(inputs, (tuple, list)):
        return ExampleInputs(tuple(inputs))
    if not isinstance(inputs, dict):
        return ExampleInputs((inputs,))
    params = list(inspect.signature(model.forward).parameters.values())
    names = [p.name for p in params if p.kind in _NAMED]
    unknown = [key for key in inputs if key not in names]
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in params):
        raise TypeError(f"forward() takes no parameter(s) {', '.join(unknown)}")
    if unknown:  # **kwargs: only export sees them; nothing to fix at a default
        return ExampleInputs((), {}, dict(inputs))
    last = max(names.index(key) for key in inputs) if inputs else -1
    concrete = {
        p.name: p.default
        for p in params
        if p.kind in _NAMED and p.name not in inputs and p.default is not p.empty
    }
    missing = [name for name in names[: last + 1] if name not in inputs]
    if any(name not in concrete for name in missing):
        raise TypeError(f"forward() needs {', '.join(missing)}, not in the inputs")
    ordered = tuple(
        inputs[name] if name in inputs else concrete[name] for name in names[: last + 1]
    )
    keywords = {name: inputs[name] for name in names if name in inputs}
    return ExampleInputs(ordered, concrete, keywords)


_NAMED = (
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
    inspect.Parameter.KEYWORD_ONLY,
)
