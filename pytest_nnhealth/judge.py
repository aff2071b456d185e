"""Turn measured quantities into findings: thresholds in, ``HealthFinding`` list out.

Two judging rules (docs/health/index.md): "state" quantities fire only when out of range
on each of the last ``window`` measured steps (a zero-initialised output layer has zero
upstream gradients at step 0 and recovers), and the step reported is where that final
out-of-range run began; "event" quantities (non-finite values, update ratio too high,
divergence) fire on the worst single step, reporting the first anomalous one. The depth
ratio is a property of the initialisation and is judged at step 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from pytest_nnhealth.hints import HINTS, hint
from pytest_nnhealth.records import HealthFinding
from pytest_nnhealth.runner import RunResult
from pytest_nnhealth.thresholds import Thresholds

Values = list[float | None]


def trailing_run(
    values: Values, bad: Callable[[float], bool], window: int
) -> tuple[int, float] | None:
    """(first step of the final out-of-range run, last value) if the last ``window``
    measured values are all out of range, else None."""
    measured = [(step, v) for step, v in enumerate(values) if v is not None]
    if not measured:
        return None
    tail = measured[-min(window, len(measured)) :]
    if not all(bad(v) for _, v in tail):
        return None
    start = len(measured) - 1
    while start > 0 and bad(measured[start - 1][1]):
        start -= 1
    return measured[start][0], measured[-1][1]


def first_bad(
    values: Sequence[float | None], bad: Callable[[float], bool]
) -> tuple[int, float] | None:
    """(first out-of-range step, worst-by-magnitude out-of-range value)."""
    hits = [(step, v) for step, v in enumerate(values) if v is not None and bad(v)]
    if not hits:
        return None
    return hits[0][0], max(
        (v for _, v in hits), key=lambda v: abs(v) if v == v else 1e308
    )


def finding(
    check: str,
    module: str,
    kind: str,
    value: float | None,
    limit: str,
    step: int | None,
    detail: str | None = None,
) -> HealthFinding:
    what = HINTS[check][0]
    where = f"`{module}`" + (f" ({kind})" if kind else "") if module else "the model"
    shown = detail or (f"{_num(value)} {what}" if value is not None else what)
    since = f" from step {step}" if step is not None else ""
    healthy = f", healthy {limit}" if limit else ""
    message = f"{check} in {where}: {shown}{since}{healthy}; {hint(check)}"
    return HealthFinding(check, module, value, limit, step, message, hint(check))


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if value != value or math.isinf(value):
        return str(value)
    return f"{value:.2f}" if 0.01 <= abs(value) < 1000 else f"{value:.2e}"


def judge(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    findings: list[HealthFinding] = []
    for rule in (
        _nonfinite,
        _divergence,
        _no_learning,
        _dead,
        _saturation,
        _depth,
        _gradients,
        _updates,
        _plumbing,
        _rank,
    ):
        findings.extend(rule(result, limits))
    return [f for f in _drop_consequences(findings) if f.check not in limits.ignore]


def _drop_consequences(findings: list[HealthFinding]) -> list[HealthFinding]:
    """A dead layer's output has no spread: its vanishing depth ratio is not news."""
    dead = {f.module for f in findings if f.check == "dead_units"}
    return [
        f
        for f in findings
        if not (f.check == "vanishing_activations" and f.module in dead)
    ]


def _kind(result: RunResult, name: str) -> str:
    stats = result.layers.get(name)
    return stats.type if stats is not None else ""


def _series(result: RunResult, quantity: str) -> dict[str, Values]:
    return {
        name: stats.series[quantity]
        for name, stats in result.layers.items()
        if quantity in stats.series
    }


def _nonfinite(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    event: dict[str, Any] | None = result.extras.get("nonfinite")
    bad_loss = next(
        (s for s, v in enumerate(result.losses) if not math.isfinite(v)), None
    )
    if event is None and bad_loss is None:
        return []
    if event is None or (bad_loss is not None and bad_loss < event["step"]):
        event = {"step": bad_loss, "module": "loss_fn", "phase": "forward"}
    module, phase = event["module"], event["phase"]
    detail = f"first NaN/Inf in {phase} (inputs finite)"
    return [
        finding(
            "nonfinite",
            module,
            _kind(result, module),
            None,
            "finite",
            event["step"],
            detail,
        )
    ]


def _divergence(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
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
    detail = f"loss {_num(value)} at step {step} vs {_num(start)} at step 0"
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


def _no_learning(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
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
    detail = f"held-batch loss {_num(before)} -> {_num(after)} (drop {drop:.2%})"
    return [
        finding(
            "no_learning",
            "",
            "",
            drop,
            f"drop >= {limits.min_loss_drop:.0%}",
            None,
            detail,
        )
    ]


def _state_rule(
    result: RunResult,
    limits: Thresholds,
    quantity: str,
    check: str,
    limit: float,
) -> list[HealthFinding]:
    out = []
    for name, values in _series(result, quantity).items():
        hit = trailing_run(values, lambda v: v > limit, limits.window)
        if hit is not None:
            out.append(
                finding(
                    check, name, _kind(result, name), hit[1], f"< {limit:.2f}", hit[0]
                )
            )
    return out


def _dead(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    return _state_rule(
        result, limits, "dead_fraction", "dead_units", limits.dead_fraction_max
    )


def _saturation(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    return _state_rule(
        result,
        limits,
        "saturation_fraction",
        "saturation",
        limits.saturation_fraction_max,
    )


def _ratios(num: Values, den: Values) -> Values:
    return [
        a / b if a is not None and b is not None and b > 0 else None
        for a, b in zip(num, den, strict=True)
    ]


def _depth(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    stds = _series(result, "act_batch_std")
    leaves = [n for n in result.leaves if n in stds]
    if len(leaves) < 3:
        return []
    first, hidden = leaves[0], leaves[1:-1]  # the last leaf is the output layer
    # Judged at init (step 0), as signal propagation is: training can pull a badly
    # initialised net back into range within the run, the init is still wrong.
    at_init = _ratios(stds[hidden[-1]], stds[first])[0]
    if at_init is None:
        return []
    low, high = limits.depth_ratio_min, limits.depth_ratio_max
    for check, bad in (
        ("vanishing_activations", lambda v: v < low),
        ("exploding_activations", lambda v: v > high),
    ):
        if not bad(at_init):
            continue
        # Name the first hidden output whose ratio is already out of range.
        culprit = next(
            (
                n
                for n in hidden
                if (r := _ratios(stds[n], stds[first])[0]) is not None and bad(r)
            ),
            hidden[-1],
        )
        limit = f"in [{low:g}, {high:g}]"
        kind = _kind(result, culprit)
        return [
            finding(check, culprit, kind, at_init, limit, 0, at_init_detail(at_init))
        ]
    return []


def at_init_detail(value: float) -> str:
    return f"{_num(value)} {HINTS['vanishing_activations'][0]} at init"


def _gradients(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    norms = _series(result, "grad_norm")
    owners = [n for n in result.param_modules if n in norms]
    out: list[HealthFinding] = []
    if len(owners) >= 2:
        ratio = _ratios(norms[owners[0]], norms[owners[-1]])
        low, high = limits.grad_ratio_min, limits.grad_ratio_max
        limit = f"first/last in [{low:g}, {high:g}]"
        for check, bad in (
            ("vanishing_gradients", lambda v: v < low),
            ("exploding_gradients", lambda v: v > high),
        ):
            hit = trailing_run(ratio, bad, limits.window)
            if hit is not None:
                out.append(
                    finding(
                        check,
                        owners[0],
                        _kind(result, owners[0]),
                        hit[1],
                        limit,
                        hit[0],
                    )
                )
    if any(f.check == "exploding_gradients" for f in out):
        return out
    cap = limits.grad_relative_max
    for name, values in _series(result, "grad_relative").items():
        hit = trailing_run(values, lambda v: v > cap, limits.window)
        if hit is not None:
            out.append(
                finding(
                    "exploding_gradients",
                    name,
                    _kind(result, name),
                    hit[1],
                    f"||g||/||w|| < {cap:g}",
                    hit[0],
                )
            )
    return out


def _updates(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    # A module with no gradient at all is reported by the plumbing rule, not twice.
    plumbing = {
        module
        for key in ("params_without_grad", "zero_gradients")
        for module, _ in result.extras.get(key, [])
    }
    out = []
    high, low = limits.update_ratio_max, limits.update_ratio_min
    for name, values in _series(result, "update_ratio").items():
        hit = first_bad(_settled(values, limits.window), lambda v: v > high)
        if hit is not None:
            out.append(
                finding(
                    "update_ratio_high",
                    name,
                    _kind(result, name),
                    hit[1],
                    f"< {high:g}",
                    hit[0],
                )
            )
            continue
        tail = trailing_run(values, lambda v: v < low, limits.window)
        if tail is not None and name not in plumbing:
            out.append(
                finding(
                    "update_ratio_low",
                    name,
                    _kind(result, name),
                    tail[1],
                    f">= {low:g}",
                    tail[0],
                )
            )
    return out


def _settled(values: Values, window: int) -> Values:
    """Drop the first 2 * window measured steps of a module that starts at zero weights:
    its k-th update is ~1/k of its norm (1.0, 0.5, 0.33, ...) by construction. NaN
    values
    stay out of the comparison (reported as nonfinite)."""
    if not values or values[0] is not None:
        return values
    kept: Values = []
    seen = 0
    for value in values:
        seen += value is not None
        kept.append(value if seen > 2 * window else None)
    return kept


def _plumbing(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    out = []
    for check, key in (
        ("params_without_grad", "params_without_grad"),
        ("zero_gradients", "zero_gradients"),
    ):
        grouped: dict[str, list[str]] = {}
        for module, param in result.extras.get(key, []):
            grouped.setdefault(module, []).append(param)
        for module, params in grouped.items():
            detail = f"{', '.join(params)}: {HINTS[check][0]}"
            out.append(
                finding(
                    check,
                    module,
                    _kind(result, module),
                    float(len(params)),
                    "",
                    None,
                    detail,
                )
            )
    for path, kind in result.extras.get("unregistered", []):
        detail = (
            f"{kind} with parameters ran in forward but is not a registered submodule"
        )
        out.append(finding("unregistered_params", path, kind, None, "", None, detail))
    return out


def _rank(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    tops = _series(result, "top_sv_fraction")
    hidden = [n for n in result.leaves[:-1] if n in tops]
    cap = limits.rank_top_fraction_max
    collapsed = [
        (name, hit)
        for name in hidden
        if (hit := trailing_run(tops[name], lambda v: v > cap, limits.window))
    ]
    if not collapsed:
        return []
    # Later layers inherit a collapse: report where it starts.
    name, (step, value) = collapsed[0]
    detail = f"{_num(value)} {HINTS['rank_collapse'][0]}"
    if len(collapsed) > 1:
        detail += f" (and {len(collapsed) - 1} later layer(s))"
    limit = f"sigma_1/sum(sigma) < {cap:.2f}"
    return [
        finding("rank_collapse", name, _kind(result, name), value, limit, step, detail)
    ]
