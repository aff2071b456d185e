"""One seed's run with the caller's state protected, and the guard around all runs.

``run_seed`` trains a deep copy (with the loss, step function and optimizer factory
pointed at it, see ``rewire``); a model that cannot be deep-copied is trained in place
under snapshots of its tensors and plain attributes, written back in ``finally``.
``under_guard`` wraps every run of a ``check()`` in a ``CallerGuard``: a caller tensor
that changed anyway is restored and becomes a usage error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any, TypeVar

import torch
from torch import nn

from pytest_nnhealth.judge.records import RunResult
from pytest_nnhealth.training.caller_guard import CallerGuard
from pytest_nnhealth.training.caller_state import AttributeState, FlagsState, ModelState
from pytest_nnhealth.training.nonfinite_replay import run_and_locate
from pytest_nnhealth.training.rewire import RewireError
from pytest_nnhealth.training.runner import RunSpec, identity_memo, wired_copy

T = TypeVar("T")


def under_guard(model: nn.Module, spec: RunSpec, body: Callable[[CallerGuard], T]) -> T:
    """``body(guard)`` with the caller's tensors checked and restored afterwards: a
    change is a ``ValueError`` (a note on the exception when ``body`` raised)."""
    guard = CallerGuard.capture(model, spec.optimizer)
    passed = [
        name
        for name, value in (
            ("loss_fn", spec.loss_fn),
            ("step_fn", spec.step_fn),
            ("optimizer", spec.optimizer),
        )
        if value is not None
    ]
    try:
        result = body(guard)
    except BaseException as error:
        touched = guard.restore()
        if touched and hasattr(error, "add_note"):
            error.add_note(guard.message(touched, passed))
        raise
    touched = guard.restore()
    if touched:
        raise ValueError(guard.message(touched, passed))
    return result


def run_seed(model: nn.Module, spec: RunSpec, guard: CallerGuard) -> RunResult:
    """Run on a deep copy; fall back to training in place under a snapshot."""
    flags = FlagsState.capture(model)
    snapshots: list[ModelState | AttributeState] = []
    try:
        try:
            work, memo, wired = wired_copy(model, spec)
        except Exception as error:  # noqa: BLE001 - any deepcopy failure means "cannot copy"
            if isinstance(error, RewireError):
                raise  # the user's to fix, not a reason to train the caller's model
            _check_in_place_device(model, spec.device, error)
            snapshots = [AttributeState.capture(model), ModelState.capture(model)]
            work, memo = model, identity_memo(model)
            wired = dataclasses.replace(spec, in_place=True)
        with ExitStack() as stack:
            if not wired.in_place:
                stack.enter_context(guard.recording())
            result = _run_and_locate(model, work, memo, wired, snapshots)
        result.meta["copy"] = (
            "in place (model cannot be deep-copied; parameters, buffers, gradients, "
            "flags, plain attributes and torch generators restored)"
            if wired.in_place
            else "deepcopy"
        )
        return result
    finally:
        for snapshot in snapshots:
            snapshot.restore()
        flags.restore()


def _run_and_locate(
    model: nn.Module,
    work: nn.Module,
    memo: dict[int, Any],
    spec: RunSpec,
    snapshots: list[ModelState | AttributeState],
) -> RunResult:
    def fresh() -> tuple[nn.Module, dict[int, Any], RunSpec]:
        # The replay starts from the weights the run started from.
        if spec.in_place:
            for snapshot in snapshots:
                snapshot.restore()
            return work, memo, spec
        return wired_copy(model, spec)

    return run_and_locate(work, memo, spec, fresh)


def _check_in_place_device(
    model: nn.Module, device: torch.device, error: Exception
) -> None:
    current = model_device(model)
    if current != device:
        raise ValueError(
            "check(): the model cannot be deep-copied "
            f"({type(error).__name__}: {error}), "
            f"so it is trained in place under a snapshot; that needs device={current} "
            f"(the model's device), not {device}"
        ) from error


def model_device(model: nn.Module) -> torch.device:
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device("cpu")
