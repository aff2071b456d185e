"""check()'s arguments checked before any step runs: each problem raises a TypeError or
ValueError naming the argument and what to pass instead (docs/check.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from pytest_nnhealth.judge.thresholds import Thresholds
from pytest_nnhealth.probes.routers import Router
from pytest_nnhealth.training.guarded_run import model_device
from pytest_nnhealth.training.optimizers import check_instance

# The largest seed torch's generators take (unsigned 64 bits).
MAX_SEED = 2**64 - 1


def run_device_for(model: nn.Module, device: str | torch.device | None) -> torch.device:
    if device is None:
        return model_device(model)
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"check(): invalid device {device!r}: {error}") from error
    if chosen.type == "meta":
        raise ValueError(
            "check(): device='meta' cannot train (meta tensors hold no data); pass a "
            "real device such as 'cpu'"
        )
    try:
        torch.empty(0, device=chosen)
    except (RuntimeError, AssertionError) as error:
        # A CPU-only build raises AssertionError("Torch not compiled with CUDA").
        raise ValueError(
            f"check(): device={device!r} is not usable in this torch build or on this "
            f"machine ({type(error).__name__}: {error}); pass device=None to run "
            "where the model is"
        ) from error
    return chosen


def validate_state(model: nn.Module, optimizer: Any) -> None:
    """Arguments whose problem shows only in their tensors: meta tensors (no data),
    and an optimizer instance built on another model."""
    meta = [
        n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta
    ]
    if meta:
        raise ValueError(
            f"check(): the model's `{meta[0]}` (and {len(meta) - 1} more) is on the "
            "meta device and holds no data; materialise the model first, e.g. "
            "model.to_empty(device='cpu') and initialise or load its weights"
        )
    if isinstance(optimizer, torch.optim.Optimizer):
        check_instance(optimizer, model)
    if optimizer is None:
        _check_default_optimizer_fits(model)


def _check_default_optimizer_fits(model: nn.Module) -> None:
    """The default Adam rejects sparse gradients, and only at the first step, and
    cannot step float16 parameters; say so before any step runs, naming the module or
    parameter, and what to pass instead."""
    _refuse_float16_for_adam(model)
    sparse = [
        name
        for name, module in model.named_modules()
        if isinstance(module, (nn.Embedding, nn.EmbeddingBag)) and module.sparse
    ]
    if sparse:
        raise ValueError(
            f"check(): `{sparse[0]}` has sparse=True, whose sparse gradients the "
            "default optimizer (Adam) cannot take; pass the optimizer you train with, "
            "e.g. optimizer=lambda params: torch.optim.SGD(params, lr=0.1)"
        )


def routers_of(model: nn.Module, routers: Any) -> tuple[Router, ...]:
    """Custom MoE routers (docs/health/moe.md), checked before any step runs."""
    items = tuple(routers) if isinstance(routers, (list, tuple)) else (routers,)
    names = {name for name, _ in model.named_modules()}
    for item in items:
        if not isinstance(item, Router):
            raise TypeError(
                "check(): routers must be a list of pytest_nnhealth.Router, got "
                f"{type(item).__name__}"
            )
        if item.module not in names:
            raise ValueError(
                f"check(): routers: no module named {item.module!r} in the model"
            )
    return items


def validate(
    model: Any, loss_fn: Any, step_fn: Any, steps: Any, seed: Any, seeds: Any
) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"check(): model must be a torch.nn.Module, got {type(model).__name__}"
        )
    if isinstance(model, torch.jit.ScriptModule):
        raise TypeError(
            "check(): the model is a TorchScript module, which cannot carry the Python "
            "hooks the probes use; pass the nn.Module before torch.jit.script/trace"
        )
    if isinstance(loss_fn, type):
        raise TypeError(
            f"check(): loss_fn is the class {loss_fn.__name__}, not a loss; pass an "
            f"instance, e.g. loss_fn={loss_fn.__name__}()"
        )
    for name, value in (("loss_fn", loss_fn), ("step_fn", step_fn)):
        if value is not None and not callable(value):
            raise TypeError(
                f"check(): {name} must be callable, got {type(value).__name__}"
            )
    _validate_counts(steps, seed, seeds)
    _refuse_missing_forward(model, step_fn)
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("check(): the model has no trainable parameters")


def _validate_counts(steps: Any, seed: Any, seeds: Any) -> None:
    for name, value, low in (
        ("steps", steps, 1),
        ("seeds", seeds, 1),
        ("seed", seed, 0),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"check(): {name} must be an int >= {low}, got {value!r}")
    if seed + seeds - 1 > MAX_SEED:
        # torch's generators take 64-bit unsigned seeds; larger ones overflowed at
        # the first step with a bare "Overflow when unpacking long long".
        raise ValueError(
            f"check(): seed must be at most 2**64 - seeds ({MAX_SEED - seeds + 1}), "
            f"got {seed!r}: the seeds run are seed, seed + 1, ..."
        )


def _refuse_missing_forward(model: nn.Module, step_fn: Any) -> None:
    """A container (nn.ModuleDict, nn.ModuleList) has no forward: calling it raised
    NotImplementedError inside the first step."""
    # The instance's forward: torch.compile's wrapper sets one on the instance.
    if (
        step_fn is None
        and getattr(model.forward, "__func__", None) is nn.Module.forward
    ):
        raise TypeError(
            f"check(): {type(model).__name__} defines no forward(), so check() cannot "
            "call it; pass the module that runs the model, or step_fn=(model, batch) "
            "-> loss"
        )


def thresholds_of(thresholds: Thresholds | Mapping[str, Any] | None) -> Thresholds:
    if thresholds is None:
        return Thresholds()
    if isinstance(thresholds, Thresholds):
        return thresholds
    if isinstance(thresholds, Mapping):
        return Thresholds.from_mapping(thresholds)
    raise TypeError(
        "check(): thresholds must be a Thresholds or a mapping, got "
        f"{type(thresholds).__name__}"
    )


def _refuse_float16_for_adam(model: nn.Module) -> None:
    """Adam's eps=1e-8 is 0 in float16 and squared gradients below ~2e-4 underflow to
    0, so the first update divides by zero: an inf update ratio and NaN from step 1,
    which the report would blame on the learning rate. bfloat16 has float32's range
    and trains. Mixed precision (torch.autocast) keeps float32 master weights: the
    float32 model is the one that trains."""
    half = next(
        (
            name
            for name, parameter in model.named_parameters()
            if parameter.requires_grad and parameter.dtype == torch.float16
        ),
        None,
    )
    if half is not None:
        raise ValueError(
            f"check(): `{half}` is float16, which the default optimizer (Adam, "
            "eps=1e-8) cannot step: eps and small squared gradients round to 0 in "
            "float16 and the first update is inf. Check the float32 model "
            "(model.float(); mixed precision keeps float32 weights), or pass the "
            "optimizer you train with, e.g. optimizer=lambda params: "
            "torch.optim.SGD(params, lr=0.01)"
        )
