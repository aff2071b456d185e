"""Signal propagation rules: the depth ratio at init, first/last gradient ratio and
relative gradients, and update ratios (too high on any step, too low on the last
window)."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.judge.base import (
    Values,
    finding,
    first_bad,
    fmt,
    kind_of,
    ratios,
    series_of,
    settled,
    started_at_zero,
    trailing_run,
)
from pytest_nnhealth.judge.grad_chain import largest_drop, level
from pytest_nnhealth.judge.hints import HINTS
from pytest_nnhealth.judge.records import HealthFinding, RunResult
from pytest_nnhealth.judge.thresholds import Thresholds

# The signal reaching the end is judged on the last few hidden outputs, not the last
# one alone: a by-design small output there (the class token of CaiT, a branch behind a
# 1e-5 layer scale, a dropout on a pooled token) is not a vanishing signal, while a
# vanishing or exploding signal is progressive and puts all of them out of range.
END_OUTPUTS = 3

# Normalisation layers by their class name: LayerNorm, RMSNorm, GroupNorm, BatchNorm2d,
# InstanceNorm1d and prefixed library variants (T5LayerNorm, LayerNorm2d,
# BatchNormAct2d), and timm's own spellings: RmsNorm, SimpleNorm (an RMS norm), the
# one-group GroupNorm1 and the float32 variants (LayerNormFp32, RmsNormAct2dFp32). An
# affine layer named NoNorm does not normalise and does not match.
NORMALISATION = re.compile(
    r"(Layer|RMS|Rms|Simple|Group|Batch|Instance)Norm1?(Act)?(\dd)?(Fp32)?$"
)


def depth_ratio(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    stds = series_of(result, Q.ACT_BATCH_STD)
    leaves = [n for n in result.leaves if n in stds]
    if len(leaves) < 3:
        return []
    # the last leaf is the output layer
    return _depth_from(result, stds, leaves[0], leaves[1:-1], limits)


def _depth_from(
    result: RunResult,
    stds: dict[str, list[float | None]],
    first: str,
    hidden: list[str],
    limits: Thresholds,
) -> list[HealthFinding]:
    # Judged at init (step 0), as signal propagation is: training can pull a badly
    # initialised net back into range within the run, the init is still wrong.
    at_init = {n: _init_ratio(stds[n], stds[first]) for n in hidden}
    end = [v for n in hidden[-END_OUTPUTS:] if (v := at_init[n]) is not None]
    if not end:
        return []
    low, high = limits.depth_ratio_min, limits.depth_ratio_max
    for check, bad, value in (
        ("vanishing_activations", lambda v: v < low, max(end)),
        ("exploding_activations", lambda v: v > high, min(end)),
    ):
        if not bad(value):
            continue
        # Name the first hidden output whose ratio is already out of range, measured
        # on finite values (an overflow is the nonfinite finding's, not a growth).
        culprit = next(
            (
                n
                for n in hidden
                if (r := at_init[n]) is not None and math.isfinite(r) and bad(r)
            ),
            None,
        )
        if culprit is None:
            return []
        kind = kind_of(result, culprit)
        if NORMALISATION.search(kind):
            # A normalisation sets its output's scale whatever its input's: the jump
            # is by construction, not weights too large or small for the depth
            # (RWKV's embedding is initialised at ~1e-4 and normalised right after).
            # The depth is judged again from that output on.
            rest = hidden[hidden.index(culprit) + 1 :]
            return _depth_from(result, stds, culprit, rest, limits)
        limit = f"in [{low:g}, {high:g}]"
        return [finding(check, culprit, kind, value, limit, 0, at_init_detail(value))]
    return []


def _init_ratio(num: list[float | None], den: list[float | None]) -> float | None:
    """Step-0 batch-std ratio; an output that overflowed (NaN/Inf) while the first
    output is finite counts as infinitely grown."""
    a, b = num[0] if num else None, den[0] if den else None
    if a is None or b is None or not math.isfinite(b) or b <= 0:
        return None
    return a / b if math.isfinite(a) else math.inf


def at_init_detail(value: float) -> str:
    return f"{fmt(value)} {HINTS['vanishing_activations'][0]} at init"


def gradient_norms(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    norms = series_of(result, Q.GRAD_NORM)
    # First and last by execution: a module whose parameters are read without calling
    # it (a relative-position table fetched by a method) has no place in the depth
    # order, and its tiny gradient would stand in for the output layer's.
    ran = set(result.order)
    owners = [n for n in result.param_modules if n in norms and n in ran]
    out: list[HealthFinding] = []
    if len(owners) >= 2:
        ratio = ratios(norms[owners[0]], norms[owners[-1]])
        low, high = limits.grad_ratio_min, limits.grad_ratio_max
        limit = f"first/last in [{low:g}, {high:g}]"
        for check, bad in (
            ("vanishing_gradients", lambda v: v < low),
            ("exploding_gradients", lambda v: v > high),
        ):
            hit = trailing_run(ratio, bad, limits.window)
            if hit is None:
                continue
            if check == "vanishing_gradients" and _fed_body(
                result, norms, owners, bad, limits.window
            ):
                continue
            found = finding(
                check, owners[0], kind_of(result, owners[0]), hit[1], limit, hit[0]
            )
            if check == "vanishing_gradients":
                found = _where_lost(result, found, norms, owners, ratio, limits.window)
            out.append(found)
    if any(f.check == "exploding_gradients" for f in out):
        return out
    cap = limits.grad_relative_max
    for name, values in series_of(result, Q.GRAD_RELATIVE).items():
        # A tensor started at zero has no drawn scale to compare its gradient with:
        # its norm is the sum of the optimizer's steps so far (~k * lr * sqrt(n)
        # after k Adam steps), so ||g||/||w|| reads how small its lr is. Its steps
        # are judged by the update ratio, its depth by the first/last ratio.
        if started_at_zero(result, name):
            continue
        hit = trailing_run(values, lambda v: v > cap, limits.window)
        if hit is not None:
            out.append(
                finding(
                    "exploding_gradients",
                    name,
                    kind_of(result, name),
                    hit[1],
                    f"||g||/||w|| < {cap:g}",
                    hit[0],
                )
            )
    return out


def _fed_body(
    result: RunResult,
    norms: dict[str, Values],
    owners: list[str],
    bad: Callable[[float], bool],
    window: int,
) -> bool:
    """True when the output layer started at zero and the first owner's gradient is
    in range against the body's best-fed hidden owner on the last ``window`` steps.

    Vanishing gradients is the backward signal shrinking through depth. What the
    output layer hands to the body is scaled by its weights: a head drawn too small
    for its fan-in is an init to fix (the speech encoders' std-0.02 heads), but a
    head started at zero is the recipe's choice (timm's Sequencer, MLP-Mixer and
    ResMLP: a uniform first prediction) whose gain grows at the optimizer's pace,
    slower under smaller rates for wide layers. Against such a head the first/last
    ratio reads how far it has grown, not depth; the hidden owners have crossed it
    and are the reference. Normalisations are left out as in ``_where_lost``.
    """
    if not started_at_zero(result, owners[-1]):
        return False
    inner = [n for n in owners[1:-1] if not NORMALISATION.search(kind_of(result, n))]
    body = [
        max(found) if (found := [v for n in inner if (v := _at(norms[n], s))]) else None
        for s in range(len(norms[owners[0]]))
    ]
    against_body = ratios(norms[owners[0]], body)
    if all(v is None for v in against_body):
        return False
    return trailing_run(against_body, bad, window) is None


def _at(values: Values, step: int) -> float | None:
    return values[step] if step < len(values) else None


def _where_lost(
    result: RunResult,
    found: HealthFinding,
    norms: dict[str, Values],
    owners: list[str],
    ratio: Values,
    window: int,
) -> HealthFinding:
    """The finding with the place of the largest gradient drop added to its message
    and hint, measured on the steps that decided it (the last ``window``)."""
    steps = [s for s, v in enumerate(ratio) if v is not None][-window:]
    # A normalisation's parameters (a scale and shift per channel, on a unit-scale
    # input) have a gradient norm set by its width, not comparable to a weight
    # matrix's: between the two ends it is no point of the chain (Wav2Vec2's final
    # LayerNorm reads 6x its FFN's norm and was named as the drop).
    inner = [n for n in owners[1:-1] if not NORMALISATION.search(kind_of(result, n))]
    chain = [owners[0], *inner, owners[-1]]
    levels = [(n, v) for n in chain if (v := level(norms[n], steps)) is not None]
    drop = largest_drop(levels)
    if drop is None:
        return found
    where = drop.sentence()
    return dataclasses.replace(
        found, message=f"{found.message}; {where}", hint=f"{found.hint}; {where}"
    )


def update_ratios(result: RunResult, limits: Thresholds) -> list[HealthFinding]:
    # The bounds are a learning rate's: one L-BFGS step() is up to max_iter iterations,
    # each as long as the curvature model says (healthy runs measured 0.5-1.9 at lr
    # 0.1-1, docs/health/update_ratio.md); divergence and non-finite values still
    # judge such a run.
    if result.quasi_newton:
        return []
    # A module with no gradient at all is reported by the plumbing rule, not twice.
    plumbing = {
        module for module, _ in [*result.params_without_grad, *result.zero_gradients]
    }
    out = []
    high, low = limits.update_ratio_max, limits.update_ratio_min
    closed = _behind_closed_gate(result, limits)
    for name, values in series_of(result, Q.UPDATE_RATIO).items():
        hit = first_bad(settled(values, limits.window), lambda v: v > high)
        if hit is not None:
            out.append(
                finding(
                    "update_ratio_high",
                    name,
                    kind_of(result, name),
                    hit[1],
                    f"< {high:g}",
                    hit[0],
                )
            )
            continue
        tail = trailing_run(values, lambda v: v < low, limits.window)
        if tail is not None and name not in plumbing and name not in closed:
            out.append(
                finding(
                    "update_ratio_low",
                    name,
                    kind_of(result, name),
                    tail[1],
                    f">= {low:g}",
                    tail[0],
                )
            )
    return out


def _behind_closed_gate(result: RunResult, limits: Thresholds) -> set[str]:
    """Modules with no gradient signal (a closed gate upstream, whose own parameters
    are judged): their small updates are not a too-low learning rate."""
    out = set()
    for name, values in series_of(result, Q.GRAD_RELATIVE).items():
        tail = [v for v in values if v is not None][-limits.window :]
        if tail and max(tail) < limits.closed_gate_grad_relative:
            out.add(name)
    return out
