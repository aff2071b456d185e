"""The optimizer a health check trains with: the default, a factory, or a rebuilt copy
of
the caller's optimizer instance (same class, hyper-parameters and state, on the copy's
parameters; the caller's optimizer object is never stepped).

Default: ``Adam(lr=1e-3)`` with the lr of weight matrices wider than 64 inputs
scaled down by their fan-in (``default_optimizer``). Pass your own optimizer to check
*your* learning rate.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from pytest_nnhealth.training.caller_guard import running
from pytest_nnhealth.training.default_optimizer import (
    default_optimizer,
    describe_default,
)

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
OptimizerSpec = torch.optim.Optimizer | OptimizerFactory | None


def build_optimizer(
    spec: OptimizerSpec, model: nn.Module, memo: dict[int, Any]
) -> tuple[torch.optim.Optimizer, str]:
    """The optimizer for the working model and a one-line description of it."""
    if spec is None:
        optimizer = default_optimizer(model)
        return optimizer, describe_default(optimizer)
    if isinstance(spec, torch.optim.Optimizer):
        optimizer = rebuild(spec, memo)
    elif callable(spec):
        optimizer = _from_factory(spec, model)
    else:
        raise TypeError(
            "check(): optimizer must be None, a torch.optim.Optimizer or a factory "
            f"params -> Optimizer, got {type(spec).__name__}"
        )
    return optimizer, describe(optimizer)


def _from_factory(factory: OptimizerFactory, model: nn.Module) -> torch.optim.Optimizer:
    given = list(model.parameters())
    with running("optimizer"):
        optimizer = factory(given)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            "check(): optimizer factory must return a torch.optim.Optimizer, got "
            f"{type(optimizer).__name__}"
        )
    ids = {id(p) for p in given}
    foreign = [
        p
        for group in optimizer.param_groups
        for p in group["params"]
        if id(p) not in ids
    ]
    if foreign:
        raise ValueError(
            "check(): the `optimizer` factory did not use the `params` it was given: "
            f"{len(foreign)} of the tensors it optimizes are not among them "
            "(another model's, or tensors check() could not point at its copy); "
            "build the optimizer from the `params` argument, e.g. "
            "optimizer=lambda params: torch.optim.SGD(params, lr=0.1)"
        )
    return optimizer


def check_instance(optimizer: torch.optim.Optimizer, model: nn.Module) -> None:
    """An optimizer instance must hold at least one of the model's parameters."""
    own = {id(p) for p in model.parameters()}
    held = [p for group in optimizer.param_groups for p in group["params"]]
    if held and not any(id(p) in own for p in held):
        raise ValueError(
            f"check(): `optimizer` ({type(optimizer).__name__}) was built on another "
            f"model's parameters: none of its {len(held)} parameter(s) belongs to the "
            "model passed to check(); build it on model.parameters(), or pass a "
            "factory, e.g. optimizer=lambda params: torch.optim.SGD(params, lr=0.1)"
        )


def rebuild(
    original: torch.optim.Optimizer, memo: dict[int, Any]
) -> torch.optim.Optimizer:
    """Same class, groups, hyper-parameters and state, on the copied parameters.

    ``memo`` maps ``id(original tensor)`` to the tensor to train (the model's deepcopy
    memo, or identities when the model is trained in place). The optimizer is
    deep-copied with that memo: its param groups and the keys of its state then point
    at the copy's parameters, its state is private (Adam updates moments in place),
    and classes whose constructor needs more arguments than ``defaults`` (a subclass
    taking a ``scale``) need no constructor call. Tensors it holds outside the model
    get private copies."""
    try:
        rebuilt = _deep_copied(original, dict(memo))
        # load_state_dict moves the state to each parameter's device and dtype (the
        # copy may run on another device than the caller's optimizer).
        rebuilt.load_state_dict(rebuilt.state_dict())
        return rebuilt
    except Exception as deep_error:  # noqa: BLE001 - fall back to the constructor
        try:
            return _constructed(original, memo)
        except Exception as error:  # noqa: BLE001 - one clear message for both
            name = type(original).__name__
            raise ValueError(
                f"check(): cannot rebuild the `optimizer` ({name}) on the copy of the "
                f"model: deepcopy failed ({type(deep_error).__name__}: {deep_error}) "
                f"and {name}(param_groups, **defaults) failed "
                f"({type(error).__name__}: {error}); pass a factory instead, e.g. "
                f"optimizer=lambda params: {name}(params, ...)"
            ) from error


def _deep_copied(
    original: torch.optim.Optimizer, memo: dict[int, Any]
) -> torch.optim.Optimizer:
    """Every attribute, not only what ``Optimizer.__getstate__`` keeps: LBFGS holds
    its parameter list in ``_params`` as well."""
    cls = type(original)
    rebuilt = cls.__new__(cls)
    memo[id(original)] = rebuilt  # references to itself point at the rebuilt one
    # Instance-level wrappers of methods (an LR scheduler wraps ``step`` to count
    # calls, through a weak reference to the original optimizer) would step the
    # caller's optimizer: the rebuilt one uses its class's methods.
    state = {
        key: value
        for key, value in vars(original).items()
        if not (callable(value) and callable(getattr(cls, key, None)))
    }
    rebuilt.__setstate__(copy.deepcopy(state, memo))
    return rebuilt


def _constructed(
    original: torch.optim.Optimizer, memo: dict[int, Any]
) -> torch.optim.Optimizer:
    groups = []
    for group in original.param_groups:
        params = [_mapped(p, memo) for p in group["params"]]
        groups.append(
            {**{k: v for k, v in group.items() if k != "params"}, "params": params}
        )
    rebuilt = type(original)(groups, **original.defaults)
    rebuilt.load_state_dict(copy.deepcopy(original.state_dict()))
    return rebuilt


def _mapped(param: torch.Tensor, memo: dict[int, Any]) -> torch.Tensor:
    found = memo.get(id(param))
    # A tensor the optimizer holds outside the model: train a private copy of it.
    return found if found is not None else copy.deepcopy(param)


def needs_closure(optimizer: torch.optim.Optimizer) -> bool:
    """LBFGS-style optimizers re-evaluate the loss inside ``step(closure)``."""
    try:
        parameter = inspect.signature(optimizer.step).parameters.get("closure")
    except (TypeError, ValueError):
        return False
    return parameter is not None and parameter.default is inspect.Parameter.empty


def describe(optimizer: torch.optim.Optimizer) -> str:
    group = optimizer.param_groups[0] if optimizer.param_groups else {}
    keys = ("lr", "momentum", "betas", "weight_decay")
    shown = ", ".join(f"{k}={group[k]}" for k in keys if k in group and group[k] != 0)
    return f"{type(optimizer).__name__}({shown})"
