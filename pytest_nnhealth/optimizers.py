"""The optimizer a health check trains with: the default, a factory, or a rebuilt copy
of
the caller's optimizer instance (same class, hyper-parameters and state, on the copy's
parameters; the caller's optimizer object is never stepped).

Default: ``Adam(lr=1e-3)``. Adam normalises each parameter's step by its gradient
scale, so
one learning rate suits models of any size and loss scale; a default SGD learning rate
would be too small for some models (false ``no_learning``) and too large for others
(false
``loss_divergence``). Pass your own optimizer to check *your* learning rate.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
OptimizerSpec = torch.optim.Optimizer | OptimizerFactory | None
DEFAULT_LR = 1e-3


def build_optimizer(
    spec: OptimizerSpec, model: nn.Module, memo: dict[int, Any]
) -> tuple[torch.optim.Optimizer, str]:
    """The optimizer for the working model and a one-line description of it."""
    if spec is None:
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer: torch.optim.Optimizer = torch.optim.Adam(params, lr=DEFAULT_LR)
    elif isinstance(spec, torch.optim.Optimizer):
        optimizer = rebuild(spec, memo)
    elif callable(spec):
        optimizer = spec(list(model.parameters()))
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                "check(): optimizer factory must return a torch.optim.Optimizer, got "
                f"{type(optimizer).__name__}"
            )
    else:
        raise TypeError(
            "check(): optimizer must be None, a torch.optim.Optimizer or a factory "
            f"params -> Optimizer, got {type(spec).__name__}"
        )
    return optimizer, describe(optimizer)


def rebuild(
    original: torch.optim.Optimizer, memo: dict[int, Any]
) -> torch.optim.Optimizer:
    """Same class, groups, hyper-parameters and state, on the copied parameters.

    ``memo`` maps ``id(original tensor)`` to its copy (the model's deepcopy memo; empty
    when
    the model is trained in place, then the original parameters are used). The state is
    deep-copied: ``load_state_dict`` alone would share state tensors with the caller's
    optimizer, and Adam updates them in place.
    """
    groups = []
    for group in original.param_groups:
        params = [_mapped(p, memo) for p in group["params"]]
        groups.append(
            {**{k: v for k, v in group.items() if k != "params"}, "params": params}
        )
    cls = type(original)
    try:
        rebuilt = cls(groups, **original.defaults)
    except TypeError:
        # Constructors that do not take every default as a keyword argument.
        rebuilt = cls(groups)  # type: ignore[call-arg]
    rebuilt.load_state_dict(copy.deepcopy(original.state_dict()))
    return rebuilt


def _mapped(param: torch.Tensor, memo: dict[int, Any]) -> torch.Tensor:
    if not memo:
        return param
    found = memo.get(id(param))
    # A tensor the optimizer holds outside the model: train a private copy of it.
    return found if found is not None else copy.deepcopy(param)


def describe(optimizer: torch.optim.Optimizer) -> str:
    group = optimizer.param_groups[0] if optimizer.param_groups else {}
    keys = ("lr", "momentum", "betas", "weight_decay")
    shown = ", ".join(f"{k}={group[k]}" for k in keys if k in group and group[k] != 0)
    return f"{type(optimizer).__name__}({shown})"
