"""``check(lightning_module, dataloader_or_datamodule)``: a LightningModule trained by
its own ``training_step`` and ``configure_optimizers``, outside any Trainer.

Lightning is never imported here: a module is recognised by a class named
``LightningModule`` from the ``lightning`` or ``pytorch_lightning`` package in its MRO.

* The step: ``training_step(batch, batch_idx)`` on the working copy; its result is the
  loss tensor or a dict with ``"loss"``. ``self.log``/``self.log_dict`` become no-ops
  on the copy (outside a Trainer Lightning warns on every call); ``self.trainer`` stays
  absent, as it is in a unit test.
* The optimizer: ``configure_optimizers()`` is called on the caller's module (it only
  builds objects) and the first optimizer of any of its return forms (an optimizer, a
  list, ``(optimizers, schedulers)``, a dict with ``"optimizer"``/``"lr_scheduler"``,
  a list of such dicts) is rebuilt on the copy like any optimizer instance. Its
  learning rate is the one its scheduler set at step 0; schedulers are not stepped
  during the check (say so in ``report.meta["lightning"]``).
* The batches: a DataLoader or any iterable of batches, one batch, or a
  LightningDataModule (``setup("fit")`` then ``train_dataloader()``; ``prepare_data``
  is not called, since it may download).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from pytest_nnhealth.training.ecosystem import Adapted

_PACKAGES = ("lightning", "pytorch_lightning")


def _from_lightning(obj: Any, class_name: str) -> bool:
    return any(
        cls.__name__ == class_name and cls.__module__.split(".")[0] in _PACKAGES
        for cls in type(obj).__mro__
    )


def is_lightning_module(model: Any) -> bool:
    return _from_lightning(model, "LightningModule")


def is_datamodule(value: Any) -> bool:
    return _from_lightning(value, "LightningDataModule")


def adapt(module: nn.Module, batch: Any, optimizer: Any) -> Adapted:
    if not getattr(module, "automatic_optimization", True):
        raise TypeError(
            "check(): this LightningModule uses manual optimisation "
            "(automatic_optimization=False), which steps its own optimizers; pass "
            "step_fn=(model, batch) -> loss and optimizer= instead"
        )
    meta: dict[str, Any] = {"lightning": "training_step and configure_optimizers"}
    if is_datamodule(batch):
        batch.setup("fit")
        batch = batch.train_dataloader()
        meta["lightning"] += "; batches from the datamodule's train_dataloader()"
    if optimizer is None:
        optimizer, note = configured_optimizer(module)
        meta["lightning"] += note
    return Adapted(batch, training_step_fn(), optimizer, meta)


def training_step_fn() -> Callable[[nn.Module, Any], torch.Tensor]:
    """A ``step_fn`` calling the working copy's ``training_step`` with a running
    ``batch_idx``."""
    calls = 0

    def step(model: nn.Module, batch: Any) -> torch.Tensor:
        nonlocal calls
        _silence_logging(model)
        result = model.training_step(batch, calls)  # type: ignore[operator]
        calls += 1
        return _step_loss(result)

    return step


def _silence_logging(model: nn.Module) -> None:
    """``self.log``/``self.log_dict`` as no-ops on the copy (instance attributes, so
    the class and the caller's module are untouched)."""
    for name in ("log", "log_dict"):
        if name not in model.__dict__:
            object.__setattr__(model, name, _no_log)


def _no_log(*args: Any, **kwargs: Any) -> None:
    return None


def _step_loss(result: Any) -> torch.Tensor:
    loss = result.get("loss") if isinstance(result, Mapping) else result
    if not isinstance(loss, torch.Tensor):
        raise TypeError(
            "check(): training_step must return the loss tensor or a dict with "
            f"'loss', got {type(result).__name__} (a step it skips cannot be "
            "checked)"
        )
    return loss


def configured_optimizer(module: nn.Module) -> tuple[torch.optim.Optimizer, str]:
    """The first optimizer ``configure_optimizers()`` returns, and a note for the
    report."""
    configured = module.configure_optimizers()  # type: ignore[operator]
    optimizers, schedulers = _unpack(configured)
    if not optimizers:
        raise TypeError(
            "check(): configure_optimizers() returned no optimizer "
            f"({type(configured).__name__}); pass optimizer="
        )
    note = ""
    if len(optimizers) > 1:
        note += f"; the first of its {len(optimizers)} optimizers"
    if schedulers:
        note += "; its lr scheduler is not stepped (lr as at step 0)"
    return optimizers[0], note


def _unpack(value: Any) -> tuple[list[torch.optim.Optimizer], list[Any]]:
    """Optimizers and schedulers of every ``configure_optimizers`` return form."""
    if isinstance(value, torch.optim.Optimizer):
        return [value], []
    if isinstance(value, Mapping):
        scheduler = value.get("lr_scheduler")
        optimizer = value.get("optimizer")
        found = [optimizer] if isinstance(optimizer, torch.optim.Optimizer) else []
        return found, [] if scheduler is None else [scheduler]
    if isinstance(value, Sequence) and not isinstance(value, str):
        if (
            len(value) == 2
            and isinstance(value[0], Sequence)
            and isinstance(value[1], Sequence)
        ):  # ([optimizers], [schedulers])
            return list(value[0]), list(value[1])
        optimizers: list[torch.optim.Optimizer] = []
        schedulers: list[Any] = []
        for item in value:
            more, later = _unpack(item)
            optimizers += more
            schedulers += later
        return optimizers, schedulers
    return [], []
