"""Ecosystem-native inputs of ``check()``: models that compute their own loss, keyword
batches, and Lightning modules.

* ``loss_fn=None``: the loss is the model output's own (``output.loss`` as in a
  transformers ``ModelOutput``, or ``output["loss"]``), computed by the model from the
  ``labels`` inside a keyword batch; or the sum of the named loss terms of a dict
  without a ``"loss"`` (``loss_classifier``, ``loss_box_reg``, ...), as torchvision's
  detection models return them in training mode (``summed_loss_terms``).
* ``check(lightning_module, dataloader_or_datamodule)``: trained by its own
  ``training_step`` with the optimizer of its own ``configure_optimizers`` (see
  ``lightning_adapter``).

Nothing here imports transformers or Lightning: both are recognised by duck typing
and by class names, so neither is needed unless the user's model already uses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


def loss_of(output: Any) -> torch.Tensor | None:
    """The loss a model returned with its output, if any: ``output.loss`` (transformers
    ``ModelOutput`` and any object with a ``loss`` attribute), ``output["loss"]``, or
    the sum of a dict's loss terms (``summed_loss_terms``)."""
    loss = getattr(output, "loss", None)
    if loss is None and isinstance(output, Mapping):
        loss = output.get("loss")
        if loss is None:
            loss = summed_loss_terms(output)
    return loss if isinstance(loss, torch.Tensor) else None


def summed_loss_terms(output: Mapping[Any, Any]) -> torch.Tensor | None:
    """The sum of a dict's loss terms, or None: the scalar tensors under keys starting
    with ``loss`` when there are such keys, else every value when all are scalar
    tensors.

    A model that returns its loss in named terms leaves their sum to the training loop:
    torchvision's R-CNN models name them ``loss_classifier``, ``loss_box_reg``, ...
    (and detection toolkits put an ``acc`` beside them, which is not a loss); its
    RetinaNet, FCOS and SSD return only terms, named ``classification``,
    ``bbox_regression``. A term in another form (a list per feature level) is not
    ours to reduce, so then there is no loss here at all."""
    named = [
        v for k, v in output.items() if isinstance(k, str) and k.startswith("loss")
    ]
    terms = named or list(output.values())
    if not terms or not all(_is_scalar(term) for term in terms):
        return None
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def _is_scalar(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.dim() == 0


def output_loss(output: Any) -> torch.Tensor:
    """``loss_of(output)``, or a clear error saying what ``loss_fn=None`` needs."""
    loss = loss_of(output)
    if loss is None:
        raise TypeError(
            "check(): loss_fn=None takes the loss from the model's output (its "
            "`.loss` or a 'loss' key, as transformers models return when the batch "
            "holds `labels`, or the sum of a dict of scalar loss terms), but the model "
            f"returned {_describe(output)}; pass "
            "loss_fn=(output, target) -> loss, or labels in the batch"
        )
    return loss


def _describe(output: Any) -> str:
    if isinstance(output, torch.Tensor):
        return f"a tensor of shape {tuple(output.shape)}"
    if isinstance(output, Mapping):
        keys = ", ".join(map(str, list(output)[:6]))
        return f"a {type(output).__name__} without a loss (keys: {keys})"
    return f"a {type(output).__name__} without a loss"


@dataclass
class Adapted:
    """``check()``'s arguments after ecosystem adaptation, and what to say about it
    in ``report.meta``."""

    batch: Any
    step_fn: Any
    optimizer: Any
    meta: dict[str, Any] = field(default_factory=dict)


def adapt(
    model: nn.Module, batch: Any, loss_fn: Any, step_fn: Any, optimizer: Any
) -> Adapted:
    """Lightning modules become a ``step_fn`` and an optimizer; everything else is
    returned unchanged."""
    from pytest_nnhealth.training import lightning_adapter

    if lightning_adapter.is_lightning_module(model) and step_fn is None:
        if loss_fn is not None:
            raise TypeError(
                "check(): a LightningModule is trained by its own training_step; "
                "drop loss_fn= (or pass step_fn= to train it another way)"
            )
        return lightning_adapter.adapt(model, batch, optimizer)
    return Adapted(batch, step_fn, optimizer)
