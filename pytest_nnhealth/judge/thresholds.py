"""The healthy ranges ``check()`` judges against: one place, documented defaults.

Each default carries the evidence it rests on. The calibration zoo
(docs/health/index.md)
measures the false-alarm and detection rates of these values; change a value here only
together with that evidence. No torch import: the plugin builds these from ini/marker
configuration at collection time.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_nnhealth.judge.quantities import GRAPH_PREFIX, SYMPTOMS


@dataclass(frozen=True)
class Thresholds:
    """Healthy ranges. Override per call:
    ``Thresholds().replace(dead_fraction_max=0.5)``
    or ``check(..., thresholds={"dead_fraction_max": 0.5})``."""

    # "State" symptoms (dead units, saturation, depth ratio, gradient ratio, rank, low
    # updates) fire only when the value is out of range on each of the last `window`
    # steps: a zero-initialised output layer has exactly-zero upstream gradients at
    # step 0
    # and recovers by step 1-3, and single-step spikes are noise.
    window: int = 3

    # Fraction of a ReLU-family layer's units that are dead (output <= 0 for > 95% of
    # the
    # batch). Healthy ReLU nets show up to ~25%; broken ones (negative bias, lr too
    # high)
    # > 65%. 0.40 sits between with margin on both sides.
    dead_fraction_max: float = 0.40

    # Fraction of tanh/sigmoid inputs where the derivative is < 10% of its peak. Xavier-
    # initialised tanh nets: ~5-10%; a x4 too-large init: > 60%.
    saturation_fraction_max: float = 0.40

    # Depth ratio: std of the last hidden output over the first. Healthy GPT-2-style
    # branches sit at ~0.1 of the embedding scale, so the bound is wide: a 10-layer net
    # with
    # weight std 0.01 reaches ~1e-9, one with std 1 reaches ~1e9.
    depth_ratio_min: float = 1e-3
    depth_ratio_max: float = 1e3

    # First-layer over last-layer gradient norm (parameter-owning modules, forward
    # order).
    grad_ratio_min: float = 1e-3
    grad_ratio_max: float = 1e3
    # Per-module relative gradient ||g|| / ||w||: exploding above this.
    grad_relative_max: float = 1e2

    # Measured ||w_after - w_before|| / ||w_before|| per module. Karpathy's ~1e-3 is too
    # tight: healthy nets run at 2.5e-3 to 4e-2 and Adam's first step on a wide layer
    # reaches ~0.1, so the high bound is wide and judged on the worst single step.
    update_ratio_max: float = 0.5
    # A net that learns nothing can sit at 5e-4; embeddings updated on a few rows sit
    # near 1e-5. Calibration (docs/calibration.md): healthy zoo minimum 4.6e-4; SGD at
    # lr 1e-5 sits at 0.7e-6-1.2e-6 (missed on 3/5 seeds at 1e-6). Not higher: LayerNorm
    # gains under fine-tuning-size Adam lr (1e-5) move ~5e-6 per step, and Adam at lr
    # 1e-6 (7e-6) is left to no_learning. Below 3e-6 the module is effectively frozen.
    update_ratio_min: float = 3e-6
    # The scale a parameter's update is measured against never drops below this RMS
    # per element: ratio = ||dw|| / max(||w||, update_scale_floor * sqrt(n)).
    # Default-initialised weights sit above it (PyTorch's Linear/Conv init has RMS
    # 1/sqrt(3 fan_in) >= 0.01 up to fan_in 3,300; BERT/GPT-2/ViT use std 0.02), so
    # their ratio is unchanged. Parameters initialised far below it on purpose (layer
    # scale 1e-6..1e-5 in ConvNeXt, CaiT, PoolFormer, ResMLP) are meant to grow from
    # almost nothing: their first Adam step is 1,000x their own norm but 0.1x the floor
    # at lr 1e-3 (docs/health/update_ratio.md; 0/96 false alarms on the real zoo).
    update_scale_floor: float = 0.01
    # Relative gradient ||g|| / ||w|| below which a module gets no signal to learn
    # from, on each trailing step: its low updates are a closed gate upstream, not a
    # too-low learning rate, and are not reported. Healthy modules sit at 1e-4..1
    # (docs/calibration.md); a branch behind a layer scale of 1e-6 (EdgeNeXt's XCA) at
    # ~1e-11.
    closed_gate_grad_relative: float = 1e-6

    # Loss above this multiple of the step-0 loss (or non-finite) is a divergence.
    # Calibration (docs/calibration.md): no healthy zoo run ever exceeded its step-0
    # loss (worst 1.0x); a divergence that starts after ~15 steps reaches only
    # 3.5x-18x by step 24, so 10x missed it on 4/5 seeds.
    loss_divergence_factor: float = 3.0
    # The held batch's loss must fall by at least this fraction over the run.
    min_loss_drop: float = 0.01

    # sigma_1 / sum(sigma) of a hidden output (sampled steps): above this, the rows of
    # the output lie on (almost) one direction.
    rank_top_fraction_max: float = 0.9
    # A ReLU layer with dead units and at least this fraction of always-on units is
    # all-or-nothing over the batch (its rows are aligned): reported as rank_collapse,
    # not dead_units. First forward pass (bench/zoo.py, bench/real_zoo.py): healthy
    # ReLU layers <= 0.09 always on; dying ReLUs (negative bias) 0.0; collapsing
    # stacks (deep plain ReLU, data with a mean of 50) 0.27-0.53.
    aligned_always_on_min: float = 0.2

    # Normalised entropy of one attention head (1 = uniform over the keys it may see,
    # 0 = one key), mean over queries, on each of the last `window` sampled steps.
    # Calibration (docs/calibration.md): healthy zoo and real architectures (BERT,
    # GPT-2, Llama, T5, ViT, Swin, CaiT, DiT) never below 0.64 per module; Q/K init 8x
    # too large: 0.02-0.06.
    attention_entropy_min: float = 0.25
    # Largest pre-softmax attention logit of a head: "growing" when above this and
    # above `attention_logit_growth` times its step-0 value on each of the last
    # `window` sampled steps. Healthy: <= 9 at the end, up to ~5x growth from small
    # starts (CaiT 0.06 -> 3.1 is 50x, so the absolute bound is what guards it); Adam
    # lr 3e-2 without QK-norm: 1 -> 25-37. The head's typical logit spread (median
    # over queries of the std of a query's logits) must have grown by the same factor
    # on those steps: the logits grew as a whole, not one token's. Adam lr 3e-2: the
    # growing heads' spread 18-105x; HF LeViT (BatchNorm'd q/k, one outlier token's
    # self-logit 6 -> 50): at most 1.06x (docs/health/attention.md).
    attention_logit_max: float = 20.0
    attention_logit_growth: float = 4.0
    # Drift of the mean output logit from step 0, in nats, on each of the last
    # `window` steps, for outputs read through a softmax. Cross-entropy cannot see it
    # (it is the part of log Z that z-loss pulls back). Healthy: |drift| <= 2.7 (Adam
    # noise on a 10-class head); a 256-token head at lr 0.3: 12-17.
    logit_shift_max: float = 6.0

    # Mixture-of-experts routing (docs/health/moe.md, docs/calibration.md). Busiest
    # expert's tokens over the mean: a capacity factor of 2.0 (the top of the usual
    # 1.0-2.0) drops tokens above this; healthy zoo routers, balanced by an auxiliary
    # loss or a bias, peak at 1.84 on a step (step 0); their trailing 3 steps reach at
    # most 1.67 (seeds 0-4).
    expert_load_max_over_mean: float = 2.0
    # Experts allowed to receive no token on each of the last `window` steps. Routers
    # with fewer than 8 expected tokens per expert are not judged (chance).
    dead_experts_max: int = 0
    # Share of all top-k choices taken by the k busiest experts: 1.0 when every token
    # goes to the same experts, k/E when balanced (0.25 for top-2 of 8).
    router_top_share_max: float = 0.9

    # Symptoms not to report (names from the symptom vocabulary, or "nnlint:<CODE>").
    ignore: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.ignore, list):
            object.__setattr__(self, "ignore", tuple(self.ignore))
        for item in dataclasses.fields(self):
            _check_type(item.name, getattr(self, item.name), item.type)
            if item.type == "float":  # 5 -> 5.0, so reports and JSON show one type
                object.__setattr__(self, item.name, float(getattr(self, item.name)))
                if math.isnan(getattr(self, item.name)):
                    # Every comparison with NaN is false: the check would never fire.
                    raise ValueError(
                        f"thresholds: {item.name} must be a number, got nan (a NaN "
                        "limit turns its check off silently; use ignore= for that)"
                    )
        if self.window < 1:
            raise ValueError(f"thresholds: window must be >= 1, got {self.window}")
        for name in self.ignore:
            if name not in SYMPTOMS and not name.startswith(GRAPH_PREFIX):
                raise ValueError(
                    f"thresholds: unknown symptom {name!r} in ignore; known: "
                    f"{', '.join(SYMPTOMS)} or nnlint:<CODE>"
                )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Thresholds:
        """Build from a plain mapping (ini/marker/JSON); unknown keys raise
        ValueError."""
        return cls().replace(**dict(data))

    def replace(self, **overrides: Any) -> Thresholds:
        known = {item.name for item in dataclasses.fields(self)}
        for key in overrides:
            if key not in known:
                raise ValueError(
                    f"thresholds: unknown key {key!r}; known: "
                    f"{', '.join(sorted(known))}"
                )
        if "ignore" in overrides:
            overrides["ignore"] = _as_names(overrides["ignore"])
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["ignore"] = list(self.ignore)
        return data


def _as_names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part for part in value.replace(",", " ").split() if part)
    if isinstance(value, Iterable):
        return tuple(value)
    raise ValueError(
        f"thresholds: ignore must be a list of symptom names, got {value!r}"
    )


def _check_type(name: str, value: Any, annotation: Any) -> None:
    # Annotations are strings under `from __future__ import annotations`.
    expected = str(annotation)
    if expected == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif expected == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, tuple) and all(isinstance(item, str) for item in value)
    if not ok:
        raise ValueError(
            f"thresholds: {name} must be {expected}, got {type(value).__name__} "
            f"({value!r})"
        )
