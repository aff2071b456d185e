"""Mixture-of-experts cases of the calibration zoo (``bench/zoo.py`` adds them to
``CASES``): a top-2-of-8 MoE block on 256 tokens per step, healthy with each balancing
mechanism and broken four ways. ``bench/moe_loads.py`` prints their load over steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from bench.zoo_build import Built, ZooCase, _seeded, adam
from bench.zoo_moe_models import MoEClassifier, TopKMoE, moe_loss

D_IN, DIM, EXPERTS, TOP_K, CLASSES = 16, 32, 8, 2, 4


def moe_tokens(seed: int, n: int = 32, length: int = 8) -> tuple[Any, torch.Tensor]:
    """Gaussian token sequences labelled by a linear teacher on their mean."""
    gen = torch.Generator().manual_seed(50_000 + seed)
    x = torch.randn(n, length, D_IN, generator=gen)
    teacher = torch.randn(D_IN, CLASSES, generator=gen)
    return x, (x.mean(dim=1) @ teacher).argmax(dim=1)


def moe_case(
    offset: float = 0.0,
    edit: Callable[[MoEClassifier], None] | None = None,
    **moe: Any,
) -> Callable[[int], Built]:
    def build(seed: int) -> Built:
        def make() -> MoEClassifier:
            block = TopKMoE(DIM, EXPERTS, TOP_K, **moe)
            model = MoEClassifier(D_IN, DIM, CLASSES, block, offset)
            if edit is not None:
                with torch.no_grad():
                    edit(model)
            return model

        return _seeded(seed, make), moe_tokens(seed), moe_loss, adam(3e-3)

    return build


def dead_expert_3(model: MoEClassifier) -> None:
    """A router bias of -10 on expert 3 (a row masked out in the checkpoint the router
    came from): its probability is ~e^-10, so neither the top-k nor the auxiliary loss's
    gradient (proportional to that probability) ever reaches it."""
    gate = model.moe.gate
    bias = torch.nn.Parameter(torch.zeros(EXPERTS))
    bias.data[3] = -10.0
    gate.bias = bias


MOE_HEALTHY = [
    ZooCase(
        "moe_aux_loss",
        moe_case(balance="aux", aux_coef=0.01),
        True,
        notes="top-2 of 8 experts, Switch auxiliary loss (coefficient 0.01)",
    ),
    ZooCase(
        "moe_bias_balanced",
        moe_case(balance="bias", bias_rate=0.01),
        True,
        notes="auxiliary-loss-free: a per-expert bias on sigmoid scores, moved 0.01 "
        "per step against the load (DeepSeek-V3's rule)",
    ),
]

MOE_BROKEN = [
    ZooCase(
        "moe_collapse_unbalanced",
        moe_case(offset=10.0, balance="none"),
        False,
        frozenset({"router_collapse"}),
        "moe.gate",
        "no balancing, and the router reads hidden states sharing a large common "
        "component (+10 on every feature): every token goes to the same 2 experts",
    ),
    ZooCase(
        "moe_dead_expert",
        moe_case(edit=dead_expert_3, balance="aux", aux_coef=0.01),
        False,
        frozenset({"dead_experts"}),
        "moe.gate",
        "router bias -10 on expert 3: it never receives a token, and the auxiliary "
        "loss cannot revive it",
    ),
    ZooCase(
        "moe_bias_wrong_sign",
        moe_case(balance="bias", bias_rate=-0.02),
        False,
        frozenset({"dead_experts"}),
        "moe.gate",
        "the balancing bias moves with the load instead of against it (-0.02 per "
        "step): idle experts lose all their tokens and busy ones get busier; the "
        "finding says the idle expert's bias fell (the wrong sign)",
    ),
]
