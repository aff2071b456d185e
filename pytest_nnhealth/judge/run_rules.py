"""Run-level rules: non-finite values, loss divergence, no learning, gradient plumbing
(findings about the whole model or about wiring rather than a layer's statistics).
"""

from __future__ import annotations

import dataclasses
import math

from pytest_nnhealth.judge.base import finding, first_bad, fmt, kind_of
from pytest_nnhealth.judge.hints import HINTS, NO_LEARNING_ROSE
from pytest_nnhealth.judge.records import HealthFinding, NonfiniteEvent, RunResult
from pytest_nnhealth.judge.thresholds import Thresholds


def nonfinite(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    event = result.nonfinite
    bad_loss = next(
        (s for s, v in enumerate(result.losses) if not math.isfinite(v)), None
    )
    if bad_loss is not None and (event is None or bad_loss < event.step):
        event = NonfiniteEvent(bad_loss, "loss_fn", "forward")
    if event is None:
        return []
    module = event.module
    detail = f"first NaN/Inf in {event.phase} (inputs finite)"
    if event.huge_at_init:
        held = ", ".join(f"`{n}` {v:.2g}" for n, v in event.huge_at_init[:3])
        detail += (
            f"; before the first step, parameters held values up to {held}: memory "
            "never initialised (torch.empty, torch.Tensor(n, m))? see NNL202"
        )
    return [
        finding(
            "nonfinite",
            module,
            kind_of(result, module),
            None,
            "finite",
            event.step,
            detail,
        )
    ]


def divergence(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    losses = result.losses
    if not losses:
        return []
    start = losses[0]
    if not math.isfinite(start):
        return []  # non-finite from the first step: the nonfinite finding says where
    factor = limits.loss_divergence_factor

    def bad(v: float) -> bool:
        return not math.isfinite(v) or (start > 0 and v > factor * start)

    hit = first_bad(losses, bad)
    if hit is None:
        return []
    step, value = hit
    growth = value / start if math.isfinite(value) and start > 0 else value
    detail = f"loss {fmt(value)} at step {step} vs {fmt(start)} at step 0"
    return [
        finding(
            "loss_divergence",
            "",
            "",
            growth,
            f"< {factor:g}x step-0 loss",
            step,
            detail,
        )
    ]


def no_learning(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    before, after = result.held_loss
    if len(result.losses) < 2 * limits.window:
        return []  # too few steps to expect a visible drop
    if not (math.isfinite(before) and math.isfinite(after)) or abs(before) < 1e-8:
        return []
    if any(not math.isfinite(v) for v in result.losses):
        return []
    drop = (before - after) / abs(before)
    if drop >= limits.min_loss_drop:
        return []
    detail = f"held-batch loss {fmt(before)} -> {fmt(after)} (drop {drop:.2%})"
    found = finding(
        "no_learning", "", "", drop, f"drop >= {limits.min_loss_drop:.0%}", None, detail
    )
    # A rise within the same margin is noise (a model that does not move at all can
    # end a rounding error above its start): only a rise of min_loss_drop or more
    # reads as too-large steps.
    if drop > -limits.min_loss_drop:
        return [found]
    rose = "; ".join(NO_LEARNING_ROSE)
    message = found.message.removesuffix(found.hint) + rose
    return [dataclasses.replace(found, message=message, hint=rose)]


def plumbing(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    out = []
    for check, params_of in (
        ("params_without_grad", result.params_without_grad),
        ("zero_gradients", result.zero_gradients),
    ):
        grouped: dict[str, list[str]] = {}
        for module, param in params_of:
            grouped.setdefault(module, []).append(param)
        for module, params in grouped.items():
            detail = f"{', '.join(params)}: {HINTS[check][0]}"
            out.append(
                finding(
                    check,
                    module,
                    kind_of(result, module),
                    float(len(params)),
                    "",
                    None,
                    detail,
                )
            )
    for path, kind in result.unregistered:
        detail = (
            f"{kind} with parameters ran in forward but is not a registered submodule"
        )
        out.append(finding("unregistered_params", path, kind, None, "", None, detail))
    return out
