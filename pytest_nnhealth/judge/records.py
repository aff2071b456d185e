"""Plain data produced by ``check()`` and consumed by judges, renderers and the plugin.

Nothing here imports torch: the plugin, the xdist controller and the report renderers
handle these records without it. Every record round-trips through JSON.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pytest_nnhealth.judge.measured import (
    RouterInfo,
    UpdateMemory,
    routers_from_meta,
    routers_meta,
)
from pytest_nnhealth.judge.quantities import SYMPTOMS as SYMPTOMS
from pytest_nnhealth.judge.quantities import is_known_symptom as is_known_symptom

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class HealthFinding:
    """One unhealthy measurement.

    ``module`` is a module or parameter name (``""`` for the whole model), ``value``
    the measured value, ``limit`` the healthy range in words (``"< 0.40"``), ``step``
    the first step (0-based) where it was seen, ``message`` what is wrong, ``hint``
    cause and fix. ``consequence_of`` names the earlier finding that explains this one
    (``"exploding_activations in `layers.3`"``), ``None`` for a root cause: fix the
    root causes first (docs/health/index.md, "Root cause first").
    """

    check: str
    module: str
    value: float | None
    limit: str
    step: int | None
    message: str
    hint: str
    severity: Severity = "error"
    consequence_of: str | None = None

    def __post_init__(self) -> None:
        if not is_known_symptom(self.check):
            raise ValueError(f"unknown symptom {self.check!r}; known: {SYMPTOMS}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HealthFinding:
        return cls(**data)


@dataclass
class Histogram:
    """Counts per step over fixed bin ``edges`` (len(edges) == bins + 1).

    ``counts[i]`` was measured at step ``steps[i]`` (histograms are taken on sampled
    steps only; an empty ``steps`` means one row per step from step 0).
    """

    edges: list[float]
    counts: list[list[float]] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)


@dataclass
class LayerStats:
    """Per-module statistics over steps: ``series[quantity][step]`` (None = not measured
    at that step, e.g. sampled quantities)."""

    name: str
    type: str
    series: dict[str, list[float | None]] = field(default_factory=dict)
    histograms: dict[str, Histogram] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerStats:
        histograms = {
            key: Histogram(**value) for key, value in data.get("histograms", {}).items()
        }
        return cls(
            name=data["name"],
            type=data["type"],
            series=dict(data.get("series", {})),
            histograms=histograms,
        )


@dataclass(frozen=True)
class NonfiniteEvent:
    """Where the first NaN/Inf appeared: ``module`` produced it in ``phase``
    (``"forward"`` or ``"backward"``) at ``step``, its inputs still finite.
    ``huge_at_init``: trainable parameters that held non-finite values or values of
    at least ``HUGE_AT_INIT`` before the first step, with their largest magnitude
    (memory never initialised, as from ``torch.empty``)."""

    step: int
    module: str
    phase: Literal["forward", "backward"]
    huge_at_init: tuple[tuple[str, float], ...] = ()


# No initialisation draws a value this large (default and standard inits stay within
# ~10 of their scale); float32 squares overflow from 1.8e19, so a LayerNorm or a
# variance over such values is already Inf. Read only to explain a NaN/Inf that
# occurred: what uninitialised memory held in a Whisper decoder's positional table
# (up to 2.4e24) before its first LayerNorm overflowed.
HUGE_AT_INIT = 1e15


# A parameter by its owner module and its own name: ("encoder.0", "weight").
ParamRef = tuple[str, str]


@dataclass
class RunResult:
    """One seed's finished measurements, what the judge reads (no tensors).

    ``order`` lists modules in forward execution order, ``leaves`` those without
    children, ``param_modules`` the modules owning trainable parameters.
    ``held_loss`` is the first batch's loss at step 0 and again after the run.
    ``nonfinite`` is set by the runner's replay when a NaN/Inf appeared;
    ``dead_samples`` the fewest samples per unit a module's dead fraction saw,
    ``dead_units`` the fewest units it counted;
    ``params_without_grad`` / ``zero_gradients`` the trainable parameters that never
    received a gradient / only received zeros; ``unregistered`` the (path, type) of
    modules with parameters that ran without being registered submodules;
    ``routers`` the mixture-of-experts routers read; ``update_memory`` what the
    update-ratio probe held. Each is written by its probe's ``record`` (no string keys).
    ``quasi_newton``: the optimizer was L-BFGS (set by the runner), whose ``step()``
    runs up to ``max_iter`` iterations along curvature-scaled directions: its update
    ratios are not judged.
    """

    layers: dict[str, LayerStats]
    losses: list[float]
    held_loss: tuple[float, float]
    order: list[str]
    leaves: list[str]
    param_modules: list[str]
    nonfinite: NonfiniteEvent | None = None
    dead_samples: dict[str, int] = field(default_factory=dict)
    dead_units: dict[str, int] = field(default_factory=dict)
    params_without_grad: list[ParamRef] = field(default_factory=list)
    zero_gradients: list[ParamRef] = field(default_factory=list)
    unregistered: list[tuple[str, str]] = field(default_factory=list)
    routers: list[RouterInfo] = field(default_factory=list)
    update_memory: UpdateMemory | None = None
    quasi_newton: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class HealthReport:
    """What ``check()`` measured and what it judged unhealthy.

    ``routers`` are the mixture-of-experts routers read; the JSON report keeps them
    under ``meta["routers"]`` (name -> record without the name), generated from this
    field, and ``check()`` puts the same mapping into ``meta``.
    """

    model: str
    findings: list[HealthFinding] = field(default_factory=list)
    layers: dict[str, LayerStats] = field(default_factory=dict)
    losses: list[float] = field(default_factory=list)
    steps: int = 0
    seeds: list[int] = field(default_factory=list)
    thresholds: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    routers: list[RouterInfo] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not any(finding.severity == "error" for finding in self.findings)

    def by_check(self, check: str) -> list[HealthFinding]:
        return [finding for finding in self.findings if finding.check == check]

    def to_dict(self) -> dict[str, Any]:
        meta = dict(self.meta)
        if self.routers:
            meta["routers"] = routers_meta(self.routers)
        return {
            "model": self.model,
            "healthy": self.healthy,
            "findings": [finding.to_dict() for finding in self.findings],
            "layers": {name: stats.to_dict() for name, stats in self.layers.items()},
            "losses": list(self.losses),
            "steps": self.steps,
            "seeds": list(self.seeds),
            "thresholds": dict(self.thresholds),
            "meta": meta,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HealthReport:
        return cls(
            model=data["model"],
            findings=[
                HealthFinding.from_dict(item) for item in data.get("findings", [])
            ],
            layers={
                name: LayerStats.from_dict(item)
                for name, item in data.get("layers", {}).items()
            },
            losses=list(data.get("losses", [])),
            steps=data.get("steps", 0),
            seeds=list(data.get("seeds", [])),
            thresholds=dict(data.get("thresholds", {})),
            meta=dict(data.get("meta", {})),
            routers=routers_from_meta(data.get("meta", {})),
        )

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), allow_nan=True, **kwargs)

    @classmethod
    def from_json(cls, text: str) -> HealthReport:
        return cls.from_dict(json.loads(text))

    # -- assertions (in pytest_nnhealth.reporting.assertions; here for discovery) --
    def assert_healthy(self) -> None:
        """Raise ``AssertionError`` with a table of the offending layers."""
        from pytest_nnhealth.reporting.assertions import assert_healthy

        assert_healthy(self)

    def assert_activation_std(self, low: float, high: float, **kwargs: Any) -> None:
        from pytest_nnhealth.reporting.assertions import assert_activation_std

        assert_activation_std(self, low, high, **kwargs)

    def assert_grad_norm(self, low: float, high: float, **kwargs: Any) -> None:
        from pytest_nnhealth.reporting.assertions import assert_grad_norm

        assert_grad_norm(self, low, high, **kwargs)

    def assert_grad_ratio(self, low: float, high: float) -> None:
        """First-layer over last-layer gradient norm within ``[low, high]``."""
        from pytest_nnhealth.reporting.assertions import assert_grad_ratio

        assert_grad_ratio(self, low, high)

    def assert_update_ratio(self, low: float, high: float, **kwargs: Any) -> None:
        from pytest_nnhealth.reporting.assertions import assert_update_ratio

        assert_update_ratio(self, low, high, **kwargs)

    def assert_attention_entropy(self, low: float, **kwargs: Any) -> None:
        """Every attention head's normalised entropy >= ``low`` (sampled steps)."""
        from pytest_nnhealth.reporting.assertions import assert_attention_entropy

        assert_attention_entropy(self, low, **kwargs)

    def assert_attention_logits(self, high: float, **kwargs: Any) -> None:
        """Every attention head's largest pre-softmax logit <= ``high``."""
        from pytest_nnhealth.reporting.assertions import assert_attention_logits

        assert_attention_logits(self, high, **kwargs)

    def assert_logit_drift(self, max_shift: float, **kwargs: Any) -> None:
        """Mean output logit within ``max_shift`` nats of step 0 (and optionally
        ``|log Z| <= max_log_z``)."""
        from pytest_nnhealth.reporting.assertions import assert_logit_drift

        assert_logit_drift(self, max_shift, **kwargs)

    def assert_expert_load(self, max_over_mean: float = 2.0, **kwargs: Any) -> None:
        """Busiest expert <= ``max_over_mean`` x mean load, no expert without tokens
        (docs/health/moe.md)."""
        from pytest_nnhealth.reporting.assertions_moe import assert_expert_load

        assert_expert_load(self, max_over_mean, **kwargs)

    def assert_router(self, **kwargs: Any) -> None:
        """Router entropy within ``[min_entropy, max_entropy]``."""
        from pytest_nnhealth.reporting.assertions_moe import assert_router

        assert_router(self, **kwargs)
