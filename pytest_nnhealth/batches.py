"""Batch forms accepted by ``check()``, device moves, and one training-step loss.

A batch is ``(inputs, target)``; ``inputs`` is a tensor (``model(x)``), a tuple/list
(``model(*x)``) or a dict (``model(**x)``). A batch may also be a dict of keyword
inputs alone (``model(**batch)``, a transformers batch with ``labels`` inside), whose
loss the model computes itself (``loss_fn=None``) or ``loss_fn(output, batch)`` does.
``check()`` takes one batch (reused every step) or an iterable of batches. The rule
that tells them apart: a dict, a ``tuple`` of length 2, or a ``list`` of length 2 whose
second item is a tensor, is one batch; any other iterable (list of batches, generator,
DataLoader) is a sequence of batches.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from pytest_nnhealth.ecosystem import output_loss

StepFn = Callable[[nn.Module, Any], torch.Tensor]
LossFn = Callable[[Any, Any], torch.Tensor]


def is_single_batch(batch: Any) -> bool:
    if isinstance(batch, Mapping):
        return True
    if isinstance(batch, tuple):
        return len(batch) == 2
    if isinstance(batch, list):
        return len(batch) == 2 and isinstance(batch[1], torch.Tensor)
    return False


def materialise(batch: Any, steps: int, has_step_fn: bool) -> list[Any]:
    """The batch used at each step (cycling a short iterable); at least one batch."""
    if is_single_batch(batch) or (has_step_fn and not _is_batch_iterable(batch)):
        return [batch] * steps
    if isinstance(batch, (torch.Tensor, str, bytes)) or not isinstance(batch, Iterable):
        raise TypeError(
            "check(): batch must be (inputs, target), a dict of keyword inputs, or an "
            "iterable of such batches, "
            f"got {type(batch).__name__}; pass step_fn= for other batch forms"
        )
    taken = list(itertools.islice(iter(batch), steps))
    if not taken:
        raise ValueError("check(): the iterable of batches is empty")
    if not has_step_fn:
        for index, item in enumerate(taken):
            if not is_single_batch(item):
                raise TypeError(
                    f"check(): batch #{index} of the iterable is a "
                    f"{type(item).__name__}, expected (inputs, target) or a dict; pass "
                    "step_fn= "
                    "for other batch forms"
                )
    return [taken[step % len(taken)] for step in range(steps)]


def _is_batch_iterable(batch: Any) -> bool:
    return isinstance(batch, (list, tuple)) or (
        isinstance(batch, Iterable)
        and not isinstance(batch, (torch.Tensor, Mapping, str, bytes))
    )


def to_device(value: Any, device: torch.device) -> Any:
    """Move every tensor inside nested tuples/lists/dicts to ``device``."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, Mapping):
        moved = {key: to_device(item, device) for key, item in value.items()}
        # Keep the mapping's type (e.g. transformers' BatchEncoding) when it can be
        # rebuilt from a dict.
        return moved if type(value) is dict else type(value)(moved)  # type: ignore[call-arg]
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(to_device(item, device) for item in value))
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(item, device) for item in value)
    return value


def forward(model: nn.Module, inputs: Any) -> Any:
    if isinstance(inputs, Mapping):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


def compute_loss(
    model: nn.Module, batch: Any, loss_fn: LossFn | None, step_fn: StepFn | None
) -> torch.Tensor:
    if step_fn is not None:
        loss = step_fn(model, batch)
    elif isinstance(batch, Mapping):  # keyword inputs; labels, if any, inside
        output = model(**batch)
        loss = output_loss(output) if loss_fn is None else loss_fn(output, batch)
    else:
        inputs, target = batch
        output = forward(model, inputs)
        loss = output_loss(output) if loss_fn is None else loss_fn(output, target)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise TypeError(
            "check(): the loss must be a scalar tensor, got "
            f"{type(loss).__name__}"
            + (
                f" of shape {tuple(loss.shape)}"
                if isinstance(loss, torch.Tensor)
                else ""
            )
        )
    return loss.reshape(())
