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
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from pytest_nnhealth.probes.routers import all_leaves
from pytest_nnhealth.training.caller_guard import running
from pytest_nnhealth.training.ecosystem import output_loss

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
    taken = _take(batch, steps)
    if not taken:
        raise ValueError("check(): the iterable of batches is empty")
    if not has_step_fn:
        _refuse_bare_tensors(batch)
        for index, item in enumerate(taken):
            if not is_single_batch(item):
                raise TypeError(
                    f"check(): batch #{index} of the iterable is a "
                    f"{type(item).__name__}, expected (inputs, target) or a dict; pass "
                    "step_fn= "
                    "for other batch forms"
                )
    return [taken[step % len(taken)] for step in range(steps)]


def _take(batches: Iterable[Any], steps: int) -> list[Any]:
    """The first ``steps`` batches; an error raised by the user's iterable (a
    DataLoader whose dataset raises) gets a note saying where it came from."""
    taken: list[Any] = []
    try:
        for item in itertools.islice(iter(batches), steps):
            taken.append(item)
    except Exception as error:
        if hasattr(error, "add_note"):  # Python >= 3.11
            error.add_note(
                "nnhealth.check(): raised by your iterable of batches while taking "
                f"batch #{len(taken)}, before any training step (your model is "
                "untouched)"
            )
        raise
    return taken


def _refuse_bare_tensors(batch: Any) -> None:
    """``(x,)`` or ``(x, y, w)`` is neither one batch nor an iterable of batches;
    without this, the first tensor is reported as "batch #0", which misleads."""
    if (
        isinstance(batch, (tuple, list))
        and batch
        and all(isinstance(item, torch.Tensor) for item in batch)
    ):
        raise TypeError(
            f"check(): batch is a {type(batch).__name__} of {len(batch)} "
            f"tensor{'s' if len(batch) > 1 else ''}; a batch is (inputs, target): "
            "pack several inputs as ((x1, x2), target), "
            "or pass step_fn= for other batch forms"
        )


def _is_batch_iterable(batch: Any) -> bool:
    return isinstance(batch, (list, tuple)) or (
        isinstance(batch, Iterable)
        and not isinstance(batch, (torch.Tensor, Mapping, str, bytes))
    )


def private_batches(batches: list[Any], device: torch.device) -> list[Any]:
    """Each distinct batch copied once to ``device`` (see ``to_device``)."""
    copies: dict[int, Any] = {}
    out = []
    several = len({id(batch) for batch in batches}) > 1
    for index, batch in enumerate(batches):
        if id(batch) not in copies:
            where = f"batch #{index}" if several else "batch"
            refuse_meta(batch, where)
            refuse_empty(batch, where)
            copies[id(batch)] = to_device(batch, device)
        out.append(copies[id(batch)])
    return out


def refuse_meta(value: Any, where: str) -> None:
    if isinstance(value, torch.Tensor):
        if value.is_meta:
            raise ValueError(
                f"check(): {where} is a tensor on the meta device, which holds no "
                "data; pass real tensors"
            )
    elif isinstance(value, Mapping):
        for key, item in value.items():
            refuse_meta(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            refuse_meta(item, f"{where}[{index}]")


def refuse_empty(batch: Any, where: str) -> None:
    """A batch whose input tensors all hold 0 elements trains on nothing: the loss is
    NaN (a mean over no samples) and every gradient 0, which the report would show
    as symptoms of the model. Only the inputs count: a target may be empty by design
    (an image with no boxes)."""
    inputs = batch[0] if isinstance(batch, tuple) and len(batch) == 2 else batch
    tensors = list(all_leaves(inputs))
    if tensors and all(tensor.numel() == 0 for tensor in tensors):
        shape = tuple(tensors[0].shape)
        raise ValueError(
            f"check(): {where} holds no samples (input shape {shape}); pass a batch "
            "with at least one sample (a few dozen let the statistics mean something)"
        )


def to_device(value: Any, device: torch.device) -> Any:
    """Copy every tensor inside nested tuples/lists/dicts to ``device``.

    Always a copy, a new leaf with the same ``requires_grad``: the caller's input
    tensors get no ``.grad`` and no in-place change from a model that edits its
    input."""
    if isinstance(value, torch.Tensor):
        copied = value.detach().to(device, copy=True)
        return copied.requires_grad_(value.requires_grad)
    if isinstance(value, Mapping):
        return _mapping(value, {k: to_device(v, device) for k, v in value.items()})
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(to_device(item, device) for item in value))
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(item, device) for item in value)
    return value


def _mapping(original: Mapping[Any, Any], moved: dict[Any, Any]) -> Mapping[Any, Any]:
    """Keep the mapping's type (e.g. transformers' BatchEncoding, a defaultdict) when it
    can be rebuilt; else a plain dict, which ``model(**inputs)`` accepts alike."""
    if type(original) is dict:
        return moved
    if isinstance(original, defaultdict):
        return type(original)(original.default_factory, moved)
    try:
        return type(original)(moved)  # type: ignore[call-arg]
    except Exception:  # noqa: BLE001 - a constructor with another signature
        return moved


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
        with running("step_fn"):
            loss = step_fn(model, batch)
    elif isinstance(batch, Mapping):  # keyword inputs; labels, if any, inside
        with running("model"):
            output = model(**batch)
        with running("loss_fn"):
            loss = output_loss(output) if loss_fn is None else loss_fn(output, batch)
    else:
        inputs, target = batch
        with running("model"):
            output = forward(model, inputs)
        with running("loss_fn"):
            loss = output_loss(output) if loss_fn is None else loss_fn(output, target)
    if isinstance(loss, torch.Tensor) and loss.is_complex():
        # backward() would fail with "grad can be implicitly created only for real
        # scalar outputs": a real loss, e.g. .abs() or .real, is what trains.
        raise TypeError(
            f"check(): the loss must be a real scalar tensor, got {loss.dtype}; "
            "return a real loss (e.g. its .abs() or .real)"
        )
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
