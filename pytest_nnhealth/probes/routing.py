"""Mixture-of-experts routing on every step, for every located router
(``probes/routers.py`` says which are found and how custom ones are described).

Per router and step: tokens routed to each expert (``expert_tokens.<e>``, every
top-k choice counts), the load imbalance as max/mean (``expert_load_max_over_mean``)
and coefficient of variation (``expert_load_cv``) of those counts, the number of
experts that received no token (``dead_experts``), the share of all choices taken by
the top-k busiest experts (``router_top_share``: k/experts balanced, 1 collapsed), the
mean over tokens of the entropy of the softmax over experts divided by log(experts)
(``router_entropy``: 1 uniform, 0 one-hot), and, for a bias-balanced router, its bias
after the step (``expert_bias.<e>``).

Cheap: one log-softmax and one scatter-add over the (tokens x experts) logits per
router call; the hook keeps a count vector and an entropy scalar on the device, never
the logits, and everything is converted to floats once at the end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.judge.measured import RouterInfo
from pytest_nnhealth.judge.moe import load_statistics
from pytest_nnhealth.judge.records import RunResult
from pytest_nnhealth.probes.base import Probe, RunContext, Series, vectors_to_floats
from pytest_nnhealth.probes.routers import (
    Located,
    Router,
    from_adapter,
    locate_routers,
)

Key = tuple[str, int]  # (router name, step)


def chosen_experts(router: Located, logits: torch.Tensor) -> torch.Tensor:
    """Top-k experts recomputed from the logits, the way the router chooses them."""
    scores = logits.sigmoid() if router.sigmoid else logits
    if router.bias is not None:
        scores = scores + router.bias.detach().float().to(scores.device)
    return scores.topk(router.top_k, dim=-1).indices


def expert_tokens(chosen: torch.Tensor, count: int) -> torch.Tensor:
    """Tokens per expert, without a host sync (ids outside [0, count) are dropped:
    padding or capacity-dropped tokens marked -1 or ``count``)."""
    ids = chosen.detach().reshape(-1).long()
    ids = torch.where((ids >= 0) & (ids < count), ids, count)
    ones = torch.ones_like(ids, dtype=torch.float32)
    totals = torch.zeros(count + 1, device=ids.device, dtype=torch.float32)
    return totals.index_add_(0, ids, ones)[:count]


def normalised_entropy(logits: torch.Tensor) -> torch.Tensor:
    log_p = torch.log_softmax(logits, dim=-1)
    entropy = -(log_p.exp() * log_p).sum(dim=-1).mean()
    return entropy / math.log(logits.shape[-1])


class RoutingProbe(Probe):
    def __init__(self, adapters: Sequence[Router] = ()) -> None:
        self.adapters = tuple(adapters)
        self.routers: list[Located] = []
        self._counts: dict[Key, torch.Tensor] = {}
        self._entropy: dict[Key, torch.Tensor] = {}
        self._bias: dict[Key, torch.Tensor] = {}
        self._top_k: dict[str, int] = {}

    def attach(self, ctx: RunContext, stack: ExitStack) -> None:
        super().attach(ctx, stack)
        routers = {found.name: found for found in locate_routers(ctx.model)}
        for adapter in self.adapters:
            routers[adapter.module] = from_adapter(ctx.model, adapter)
        self.routers = list(routers.values())
        self._top_k = {router.name: router.top_k for router in self.routers}
        for router in self.routers:
            hook = router.module.register_forward_hook(self._hook(router))
            stack.enter_context(hook)

    def _hook(self, router: Located) -> Any:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            with torch.no_grad():
                self._measure(router, router.logits(output), router.experts(output))

        return hook

    def _measure(
        self, router: Located, logits: torch.Tensor | None, chosen: Any
    ) -> None:
        key = (router.name, self.ctx.step)
        flat = None
        if logits is not None and logits.numel() > 0:
            flat = logits.detach().float().reshape(-1, router.num_experts)
            self._entropy[key] = normalised_entropy(flat)
        if chosen is None and flat is not None:
            chosen = chosen_experts(router, flat)
        if isinstance(chosen, torch.Tensor):
            counts = expert_tokens(chosen, router.num_experts)
            previous = self._counts.get(key)
            # A router called twice in a step (an LBFGS closure) counts both calls.
            self._counts[key] = counts if previous is None else previous + counts

    def end_step(self) -> None:
        for router in self.routers:
            if router.bias is not None:
                key = (router.name, self.ctx.step)
                self._bias[key] = router.bias.detach().float().reshape(-1).clone()

    def series(self) -> Series:
        series: Series = {}
        for quantity, values in (
            (Q.EXPERT_TOKENS, self._counts),
            (Q.EXPERT_BIAS, self._bias),
        ):
            floats = vectors_to_floats(list(values.values()))
            for (name, step), row in zip(values, floats, strict=True):
                for expert, number in enumerate(row):
                    key = Q.expert_key(quantity, expert)
                    self._put(series, key, name, step, number)
                if quantity == Q.EXPERT_TOKENS:
                    k = self._top_k.get(name, 1)
                    for derived, stat in load_statistics(row, k).items():
                        self._put(series, derived, name, step, stat)
        entropies = vectors_to_floats([v.reshape(1) for v in self._entropy.values()])
        for (name, step), (number,) in zip(self._entropy, entropies, strict=True):
            self._put(series, Q.ROUTER_ENTROPY, name, step, number)
        return series

    def _put(
        self, series: Series, quantity: str, name: str, step: int, value: float | None
    ) -> None:
        row = series.setdefault(quantity, {}).setdefault(name, [None] * self.ctx.steps)
        if step < len(row):
            row[step] = value

    def record(self, result: RunResult) -> None:
        result.routers = self.read()

    def read(self) -> list[RouterInfo]:
        """The routers this run read, as the judge and the report describe them."""
        return [
            RouterInfo(
                name=r.name,
                experts=r.num_experts,
                top_k=r.top_k,
                bias_balanced=r.bias is not None,
                experts_module=r.container,
            )
            for r in self.routers
        ]
