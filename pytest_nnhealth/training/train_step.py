"""One training step of a run, with the probes' per-step calls around it.

The step is the user's: ``zero_grad``, forward and loss, ``backward``,
``optimizer.step()`` (with a closure for LBFGS-style optimizers). Around it the
probes get their per-step hooks (removed at the step's end whatever happens) and
their ``after_backward``/``before_update``/``after_update`` calls. A user exception
leaves with a note saying in which phase of which step it was raised.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from pytest_nnhealth.probes.base import Probe, RunContext
from pytest_nnhealth.training import batches as batch_forms
from pytest_nnhealth.training.caller_guard import running

if TYPE_CHECKING:
    from pytest_nnhealth.training.runner import RunSpec


def one_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    probes: list[Probe],
    ctx: RunContext,
    spec: RunSpec,
    step: int,
    closure: bool = False,
) -> torch.Tensor:
    """Step ``step`` with the probes; ``closure``: the optimizer's ``step`` needs one
    (``optimizers.needs_closure``, decided once per run)."""
    ctx.new_step(step)
    batch = spec.batches[step]
    with ExitStack() as step_hooks:
        for probe in probes:
            probe.attach_step(step_hooks)
            probe.start_step()
        ctx.hub.install(step_hooks)  # one hook for every probe's module watches
        return _train_step(model, optimizer, probes, spec, step, batch, closure)


def _train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    probes: list[Probe],
    spec: RunSpec,
    step: int,
    batch: Any,
    closure: bool,
) -> torch.Tensor:
    optimizer.zero_grad(set_to_none=True)
    with phase("forward and loss", step, spec.in_place):
        loss = batch_forms.compute_loss(model, batch, spec.loss_fn, spec.step_fn)
    if not loss.requires_grad:
        raise ValueError(
            "check(): the loss does not require grad (no trainable parameter reaches "
            "it); "
            "are all parameters frozen, or is the forward run under torch.no_grad()?"
        )
    with phase("backward", step, spec.in_place):
        loss.backward()
    for probe in probes:
        probe.after_backward()
    for probe in probes:
        probe.before_update()
    with phase("optimizer.step()", step, spec.in_place), running("optimizer"):
        if closure:
            optimizer.step(_closure(model, optimizer, spec, batch))  # type: ignore[arg-type]
        else:
            optimizer.step()
    for probe in probes:
        probe.after_update()
        probe.end_step()
    return loss.detach()


def _closure(
    model: nn.Module, optimizer: torch.optim.Optimizer, spec: RunSpec, batch: Any
) -> Callable[[], torch.Tensor]:
    """For LBFGS-style optimizers, which re-evaluate the loss several times per step;
    the probes also see these re-evaluations (same batch, the weights of the line
    search)."""

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        with torch.enable_grad():
            loss = batch_forms.compute_loss(model, batch, spec.loss_fn, spec.step_fn)
            loss.backward()
        return loss.detach()

    return closure


class phase:  # noqa: N801 - used as a context manager, like contextlib's
    """Adds where a user exception happened (phase and step) as a note, then re-raises
    the original exception unchanged in type."""

    def __init__(self, name: str, step: int, in_place: bool = False) -> None:
        self.name, self.step, self.in_place = name, step, in_place

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: BaseException | None, tb: Any) -> None:
        if error is not None and hasattr(error, "add_note"):
            where = (
                "run in place on your model, which cannot be deep-copied; its "
                "parameters, gradients, buffers, flags and plain attributes"
                if self.in_place
                else "run on a copy of the model; the caller's model"
            )
            error.add_note(
                f"nnhealth.check(): raised in {self.name} at step {self.step} of the "
                f"health check ({where}, optimizer and RNG state were restored)"
            )
