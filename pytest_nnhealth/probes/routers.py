"""Where the routers of a mixture of experts are, and how to read them
(``probes/routing.py`` measures them).

Located automatically (``locate_routers``): a direct child of some module that
scores experts, next to a sibling that holds them.

* experts: a ``ModuleList`` of >= 2 modules of one type, or a module whose own
  parameters are >= 3-d with one leading size (transformers' grouped ``*Experts``);
* router: an ``nn.Linear`` whose ``out_features`` is the number of experts, or a module
  owning a 2-d parameter ``(experts, d)`` (transformers' ``*TopKRouter``);
* and, so that a classifier head next to a list of blocks is not taken for a router,
  the router's or the experts' name says so (``gate``/``router``/``expert``) or the
  router carries a top-k attribute.

What the router returned is read by value: an integer tensor is the chosen experts,
a float tensor whose last size is the number of experts the logits. When only logits
come back the choice is recomputed as top-k of the scores (plus the score-correction
bias of a bias-balanced router, on sigmoid scores as DeepSeek-V3 does); k comes from
the first of ``top_k``/``num_experts_per_tok``/``k``/``topk`` found on the router or
its parent, else 1. A bias-balanced router is one with a 1-d tensor of size
``experts`` that the optimizer does not train (a buffer or a frozen parameter).
Anything else is described with ``Router`` and passed as ``check(..., routers=[...])``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

TOP_K_ATTRIBUTES = ("top_k", "num_experts_per_tok", "k", "topk")
_INDEX_TYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)
_NAMED = re.compile(r"gate|router|expert", re.IGNORECASE)


@dataclass(frozen=True)
class Router:
    """How to read a router that is not found automatically (docs/health/moe.md).

    ``module`` is the dotted name of the module to hook (in the model given to
    ``check()``); ``logits(output)`` returns the ``(..., num_experts)`` router logits
    from its output and ``experts(output)`` the chosen expert ids (any shape); give
    either or both. Without ``experts`` the choice is top-``top_k`` of the scores
    (``score`` then the ``bias`` tensor, a dotted name in the model, added).
    """

    module: str
    num_experts: int
    top_k: int = 1
    logits: Callable[[Any], torch.Tensor] | None = None
    experts: Callable[[Any], torch.Tensor] | None = None
    bias: str | None = None
    score: Literal["softmax", "sigmoid"] = "softmax"

    def __post_init__(self) -> None:
        if self.num_experts < 2 or self.top_k < 1 or self.top_k > self.num_experts:
            raise ValueError(
                f"Router({self.module!r}): need num_experts >= 2 and 1 <= top_k <= "
                f"num_experts, got num_experts={self.num_experts}, top_k={self.top_k}"
            )
        if self.logits is None and self.experts is None:
            raise ValueError(
                f"Router({self.module!r}): give logits=..., experts=... or both"
            )


@dataclass
class Located:
    """A router the probe hooks: its module, expert count, k and bias tensor."""

    name: str
    module: nn.Module
    num_experts: int
    top_k: int
    bias: torch.Tensor | None
    logits: Callable[[Any], torch.Tensor | None]
    experts: Callable[[Any], torch.Tensor | None]
    sigmoid: bool
    container: str | None = None  # the module holding the experts, when known


def expert_count(module: nn.Module) -> tuple[str, int] | None:
    """(child name, expert count) of the first child of ``module`` holding experts."""
    for name, child in module.named_children():
        if isinstance(child, nn.ModuleList):
            kinds = {type(item) for item in child}
            params = any(True for _ in child.parameters())
            if len(child) >= 2 and len(kinds) == 1 and params:
                return name, len(child)
            continue
        own = list(child.parameters(recurse=False))
        leading = {p.shape[0] for p in own if p.dim() >= 3}
        if own and all(p.dim() >= 3 for p in own) and len(leading) == 1:
            count = leading.pop()
            if count >= 2:
                return name, count
    return None


def scores_experts(child: nn.Module, count: int) -> bool:
    if isinstance(child, nn.Linear):
        return child.out_features == count
    return any(
        p.dim() == 2 and p.shape[0] == count for p in child.parameters(recurse=False)
    )


def top_k_of(*modules: nn.Module) -> int | None:
    for module in modules:
        for attribute in TOP_K_ATTRIBUTES:
            value = getattr(module, attribute, None)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None


def balancing_bias(count: int, *modules: nn.Module) -> torch.Tensor | None:
    """A 1-d float tensor of size ``count`` the optimizer does not train, on the router
    or its parent: a score-correction bias (a Linear's own bias is part of the
    logits and is trained)."""
    for module in modules:
        tensors = [*module.buffers(recurse=False), *module.parameters(recurse=False)]
        for tensor in tensors:
            if (
                tensor.dim() == 1
                and tensor.shape[0] == count
                and tensor.is_floating_point()
                and not tensor.requires_grad
            ):
                return tensor
    return None


def locate_routers(model: nn.Module) -> list[Located]:
    found: list[Located] = []
    for parent_name, parent in model.named_modules():
        held = expert_count(parent)
        if held is None:
            continue
        experts_name, count = held
        for name, child in parent.named_children():
            if name == experts_name or not scores_experts(child, count):
                continue
            k = top_k_of(child, parent)
            if k is None and not (_NAMED.search(name) or _NAMED.search(experts_name)):
                continue
            bias = balancing_bias(count, child, parent)
            prefix = f"{parent_name}." if parent_name else ""
            found.append(
                Located(f"{prefix}{name}", child, count, min(k or 1, count), bias,
                        _logits_leaf(count), _index_leaf, bias is not None,
                        f"{prefix}{experts_name}")
            )  # fmt: skip
    return found


def from_adapter(model: nn.Module, router: Router) -> Located:
    modules = dict(model.named_modules())
    if router.module not in modules:
        raise ValueError(
            f"check(routers=...): no module named {router.module!r} in the model"
        )
    bias = None
    if router.bias is not None:
        tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
        if router.bias not in tensors:
            raise ValueError(
                f"check(routers=...): no parameter or buffer named {router.bias!r}"
            )
        bias = tensors[router.bias]
    return Located(
        router.module, modules[router.module], router.num_experts, router.top_k, bias,
        router.logits or _nothing, router.experts or _nothing,
        router.score == "sigmoid",
    )  # fmt: skip


def _nothing(output: Any) -> torch.Tensor | None:
    return None


def all_leaves(value: Any) -> Iterator[torch.Tensor]:
    """Every tensor inside nested tuples/lists/mappings (a batch, a module output)."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from all_leaves(item)
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from all_leaves(item)


def _logits_leaf(count: int) -> Callable[[Any], torch.Tensor | None]:
    def read(output: Any) -> torch.Tensor | None:
        return next(
            (
                t
                for t in all_leaves(output)
                if t.is_floating_point() and t.dim() >= 1 and t.shape[-1] == count
            ),
            None,
        )

    return read


def _index_leaf(output: Any) -> torch.Tensor | None:
    return next(
        (t for t in all_leaves(output) if t.dim() >= 1 and t.dtype in _INDEX_TYPES),
        None,
    )
