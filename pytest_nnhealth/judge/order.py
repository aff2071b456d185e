"""Root cause first: order findings by where a quantity first left its range and mark
the ones an earlier finding explains as its consequences.

Position of a finding = (step, place in that step): forward modules in execution order,
then the loss and whole-model findings, then the backward pass (deepest module first;
gradient symptoms and backward NaNs are placed there).
Wiring findings (no gradient, unregistered parameters) hold from the first step; "no
learning" is judged after the last. A finding is a consequence of an earlier one only
when the earlier symptom is a known mechanism for it (``CAUSED_BY``): an activation
that grows until it overflows explains the NaN, a ReLU layer killed by too-large
updates explains a dead layer, never the other way round. Independent problems stay
independent: each is listed at its own position without a ``consequence_of``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from pytest_nnhealth.judge.records import HealthFinding

_GROWTH = {"exploding_activations", "exploding_gradients", "update_ratio_high"}
_ANY_NUMERIC = _GROWTH | {
    "nonfinite",
    "loss_divergence",
    "vanishing_activations",
    "vanishing_gradients",
    "dead_units",
    "saturation",
    "rank_collapse",
}
_WIRING = {"zero_gradients", "params_without_grad", "unregistered_params"}
# Experts that receive no token learn nothing (their own gradient findings are tied to
# the router in judge/moe.py, by module).
_UNROUTED = frozenset({"dead_experts", "router_collapse"})
# Gradient symptoms leave their range in the backward pass, which starts at the output:
# the deepest module is where a gradient first stops, grows or shrinks.
BACKWARD_CHECKS = frozenset(
    {"zero_gradients", "params_without_grad", "vanishing_gradients",
     "exploding_gradients"}
)  # fmt: skip
# A gradient that is exactly zero at one module is zero at every module before it on
# that path: the deepest one explains the others.
PROPAGATES_UPSTREAM = frozenset({"zero_gradients"})

# symptom -> the symptoms that can produce it (the mechanism, in docs/health/index.md).
CAUSED_BY: dict[str, frozenset[str]] = {
    # Overflow follows growth; a diverged loss turns into NaN.
    "nonfinite": frozenset(_GROWTH | {"loss_divergence", "saturation"}),
    "loss_divergence": frozenset(_GROWTH | {"nonfinite"}),
    # Nothing is learnt when any of the dynamics (or the wiring) is broken.
    "no_learning": frozenset(_ANY_NUMERIC | _WIRING | _UNROUTED),
    "exploding_gradients": frozenset({"exploding_activations", "nonfinite"}),
    "update_ratio_high": frozenset({"exploding_gradients", "exploding_activations"}),
    # Too-large steps push ReLU inputs negative and tanh/sigmoid inputs to the tails;
    # when every sample's row points the same way a unit is on for all or for none.
    "dead_units": frozenset(
        _GROWTH | {"nonfinite", "loss_divergence", "rank_collapse"}
    ),
    "saturation": frozenset(_GROWTH | {"loss_divergence"}),
    # Gradients and updates vanish behind dead or saturated layers, and behind
    # weights wrecked by too-large steps.
    "vanishing_gradients": frozenset(
        _GROWTH
        | {
            "dead_units",
            "saturation",
            "vanishing_activations",
            "rank_collapse",
            "loss_divergence",
            "zero_gradients",
        }
    ),
    "update_ratio_low": frozenset(
        {"dead_units", "saturation", "vanishing_gradients", "zero_gradients"}
    ),
    # Without signal only the biases remain: every row points the same way.
    "rank_collapse": frozenset(
        {"dead_units", "saturation", "vanishing_activations", "exploding_activations"}
    ),
    "vanishing_activations": frozenset({"dead_units", "saturation"}),
    # Growing logits make the softmax pick one key; too-large steps or activations
    # that grow through the depth grow both, and the output logits with them (a
    # 48-layer stack at 3x Kaiming init "drifts" by its growth alone).
    "attention_entropy_collapse": frozenset(
        _GROWTH | {"attention_logit_growth", "loss_divergence", "nonfinite"}
    ),
    "attention_logit_growth": frozenset(_GROWTH),
    "logit_drift": frozenset(_GROWTH | {"loss_divergence", "nonfinite"}),
    # A layer whose input is (exactly) zero gets a zero weight gradient.
    "zero_gradients": frozenset({"vanishing_activations", "dead_units"}),
}


def position(
    finding: HealthFinding, order: Sequence[str], steps: int, backward: bool = False
) -> tuple[int, int]:
    """(step, place within the step) where ``finding`` first left its range."""
    index = {name: i for i, name in enumerate(order)}
    end = len(order)
    if finding.check == "no_learning":
        return steps, 0
    step = finding.step if finding.step is not None else 0
    place = _place(finding.module, index)
    if place is None:
        return step, end  # the loss or the whole model: after the forward pass
    if backward or finding.check in BACKWARD_CHECKS:
        return step, end + 1 + (end - place)  # gradients flow deepest first
    return step, place


def _place(module: str, index: dict[str, int]) -> int | None:
    """The execution-order index of ``module``, or of the module owning a parameter
    name (``net.0.weight`` -> ``net.0``)."""
    name = module
    while name:
        if name in index:
            return index[name]
        name = name.rpartition(".")[0]
    return None


def order_by_cause(
    findings: list[HealthFinding],
    order: Sequence[str],
    steps: int,
    backward: frozenset[str] = frozenset(),
) -> list[HealthFinding]:
    """``findings`` sorted by position, each explained one marked ``consequence_of``
    its root cause ("exploding_activations in `layers.3`")."""
    placed = sorted(
        enumerate(findings),
        key=lambda item: (
            position(item[1], order, steps, item[1].module in backward),
            item[0],
        ),
    )
    ordered: list[HealthFinding] = []
    roots: list[tuple[HealthFinding, str]] = []  # (finding, root label) so far
    for _, finding in placed:
        cause = _first_cause(finding, roots)
        if cause is not None:
            finding = dataclasses.replace(finding, consequence_of=cause)
        label = cause or _label(finding)
        roots.append((finding, label))
        ordered.append(finding)
    return ordered


def _first_cause(
    finding: HealthFinding, earlier: list[tuple[HealthFinding, str]]
) -> str | None:
    causes = CAUSED_BY.get(finding.check, frozenset())
    for previous, root in earlier:
        same = previous.check == finding.check
        if (previous.check in causes and not same) or (
            same and finding.check in PROPAGATES_UPSTREAM
        ):
            return root
    return None


def _label(finding: HealthFinding) -> str:
    where = f" in `{finding.module}`" if finding.module else ""
    return f"{finding.check}{where}"


def consequence_note(finding: HealthFinding | dict[str, Any]) -> str:
    """ " (consequence of ...)" for renderers, "" for a root cause."""
    cause = (
        finding.get("consequence_of")
        if isinstance(finding, dict)
        else finding.consequence_of
    )
    return f" (consequence of {cause})" if cause else ""
