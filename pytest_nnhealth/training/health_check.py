"""``check()``: the public entry point of the dynamic half.

Validates arguments with clear errors, runs the seeds (majority vote for ``seeds > 1``),
restores the caller's state whatever happens, and adds graph findings from
``nnlint.fx`` when that is available.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pytest_nnhealth.training.torch_required import require_torch

require_torch()

import torch  # noqa: E402
from torch import nn  # noqa: E402

from pytest_nnhealth.judge.core import judge  # noqa: E402
from pytest_nnhealth.judge.measured import routers_meta  # noqa: E402
from pytest_nnhealth.judge.records import (  # noqa: E402
    HealthFinding,
    HealthReport,
    RunResult,
)
from pytest_nnhealth.judge.thresholds import Thresholds  # noqa: E402
from pytest_nnhealth.probes.routers import Router  # noqa: E402
from pytest_nnhealth.training import arguments, ecosystem, stopping  # noqa: E402
from pytest_nnhealth.training import batches as batch_forms  # noqa: E402
from pytest_nnhealth.training.caller_guard import CallerGuard  # noqa: E402
from pytest_nnhealth.training.caller_state import RngState  # noqa: E402
from pytest_nnhealth.training.graph import graph_step  # noqa: E402
from pytest_nnhealth.training.graph_bounds import GraphLimits  # noqa: E402
from pytest_nnhealth.training.guarded_run import run_seed, under_guard  # noqa: E402
from pytest_nnhealth.training.memory import (  # noqa: E402
    PausedCollector,
    peak_memory,
)
from pytest_nnhealth.training.optimizers import OptimizerSpec  # noqa: E402
from pytest_nnhealth.training.runner import RunSpec  # noqa: E402

# 25 steps: a divergence can first appear after ~20 steps, state symptoms need a window
# of
# 3 trailing steps after the step-0 transients, and tiny CI models run 25 steps in well
# under a second. Raise it for slow-to-show problems; lower it for big models.
DEFAULT_STEPS = 25

DEFAULT_EARLY_STOP = stopping.DEFAULT_EARLY_STOP

__all__ = ["DEFAULT_EARLY_STOP", "DEFAULT_STEPS", "check"]


def check(
    model: nn.Module,
    batch: Any,
    *,
    loss_fn: Callable[[Any, Any], torch.Tensor] | None = None,
    optimizer: OptimizerSpec = None,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    device: str | torch.device | None = None,
    thresholds: Thresholds | Mapping[str, Any] | None = None,
    step_fn: Callable[[nn.Module, Any], torch.Tensor] | None = None,
    seeds: int = 1,
    graph: bool | GraphLimits | Mapping[str, float] = True,
    budget_s: float | None = None,
    early_stop: bool = DEFAULT_EARLY_STOP,
    routers: Sequence[Router] = (),
    histograms: bool = False,
) -> HealthReport:
    """Train a copy of ``model`` for ``steps`` seeded steps and judge its dynamics.

    See docs/check.md for every argument. The caller's model, optimizer, RNG states,
    train/eval mode and ``requires_grad`` flags are unchanged afterwards, also when a
    step raises (the exception propagates with a note saying where it happened).
    """
    started = time.perf_counter()
    adapted = ecosystem.adapt(model, batch, loss_fn, step_fn, optimizer)
    batch, step_fn, optimizer = adapted.batch, adapted.step_fn, adapted.optimizer
    arguments.validate(model, loss_fn, step_fn, steps, seed, seeds)
    stopping.validate(budget_s, early_stop)
    graph_limits = None if graph is False else GraphLimits.of(graph)
    model, compiled = _uncompiled(model)
    arguments.validate_state(model, optimizer)
    limits = arguments.thresholds_of(thresholds)
    run_device = arguments.run_device_for(model, device)
    rng = RngState.capture(cuda_used=run_device.type == "cuda")
    try:
        with peak_memory() as memory, PausedCollector():
            batches = batch_forms.private_batches(
                batch_forms.materialise(batch, steps, step_fn is not None), run_device
            )
            spec = RunSpec(
                batches, loss_fn, step_fn, optimizer, steps, seed, run_device,
                window=limits.window,
                update_scale_floor=limits.update_scale_floor,
                stopper=stopping.factory(budget_s, early_stop, steps, seeds, limits),
                routers=arguments.routers_of(model, routers),
                histograms=bool(histograms),
            )  # fmt: skip
            report = _guarded_runs(model, spec, limits, seeds)
            report.meta["run"].update(budget_s=budget_s, early_stop=early_stop)
            report.meta.update(adapted.meta)
            if compiled:
                report.meta["compiled"] = "checked the module torch.compile wraps"
            _add_graph_findings(report, model, spec, limits, graph_limits)
    finally:
        rng.restore()
    # Peak resident memory above the level at the start (docs/check.md#memory).
    report.meta["peak_memory_mb"] = memory.peak_mb - memory.start_mb
    report.meta["timings"]["total_s"] = time.perf_counter() - started
    return report


def _uncompiled(model: nn.Module) -> tuple[nn.Module, bool]:
    """The module inside ``torch.compile(model)``: probes are Python hooks, and dynamo
    would trace into them and recompile on every sampled step; the training dynamics
    are those of the wrapped module."""
    inner = getattr(model, "_orig_mod", None)
    if type(model).__name__ == "OptimizedModule" and isinstance(inner, nn.Module):
        return inner, True
    return model, False


def _guarded_runs(
    model: nn.Module, spec: RunSpec, limits: Thresholds, seeds: int
) -> HealthReport:
    return under_guard(
        model, spec, lambda guard: _judged_runs(model, spec, limits, seeds, guard)
    )


def _judged_runs(
    model: nn.Module,
    spec: RunSpec,
    limits: Thresholds,
    seeds: int,
    guard: CallerGuard,
) -> HealthReport:
    """One run per seed, judged; with several seeds, the majority's findings."""
    results = [
        run_seed(model, dataclasses.replace(spec, seed=spec.seed + i), guard)
        for i in range(seeds)
    ]
    findings, votes = _vote([judge(result, limits) for result in results])
    report = _report(model, results[0], findings, limits, spec, seeds)
    if seeds > 1:
        report.meta["votes"] = votes
    return report


def _add_graph_findings(
    report: HealthReport, model: nn.Module, spec: RunSpec, limits: Thresholds,
    graph: GraphLimits | None,
) -> None:  # fmt: skip
    if graph is None:
        report.meta["graph"] = "disabled (graph=False)"
        return
    started = time.perf_counter()
    step = graph_step(model, spec.batches[0], spec.loss_fn, spec.step_fn, graph)
    report.findings.extend(f for f in step.findings if f.check not in limits.ignore)
    report.meta["graph"] = step.status
    # Peak resident memory above the level before the step, its model copy included.
    report.meta["graph_memory_mb"] = step.memory_mb
    # A fixed cost per check that dominates on small models (docs/performance.md).
    report.meta["timings"]["graph_s"] = time.perf_counter() - started


def _vote(
    per_seed: list[list[HealthFinding]],
) -> tuple[list[HealthFinding], dict[str, int]]:
    """Keep a (symptom, module) only if more than half of the seeds show it; the finding
    kept is the first seed's that has it."""
    counts: dict[tuple[str, str], int] = {}
    first: dict[tuple[str, str], HealthFinding] = {}
    for findings in per_seed:
        for key in {(f.check, f.module) for f in findings}:
            counts[key] = counts.get(key, 0) + 1
        for f in findings:
            first.setdefault((f.check, f.module), f)
    keep = [f for key, f in first.items() if 2 * counts[key] > len(per_seed)]
    votes = {f"{check}@{module}": n for (check, module), n in counts.items()}
    return keep, votes


def _report(
    model: nn.Module,
    result: RunResult,
    findings: list[HealthFinding],
    limits: Thresholds,
    spec: RunSpec,
    seeds: int,
) -> HealthReport:
    meta = dict(result.meta)
    meta["timings"] = dict(meta.get("timings", {}))
    meta["device"] = str(spec.device)
    meta["model_class"] = type(model).__name__
    meta["order"] = result.order
    # Documented report.meta keys (docs/health/), generated from the typed records.
    if result.update_memory is not None:
        meta["update_ratio_memory"] = result.update_memory.to_dict()
    if result.quasi_newton:
        meta["update_ratio"] = "not judged: L-BFGS steps follow the curvature"
    if result.routers:
        meta["routers"] = routers_meta(result.routers)
    return HealthReport(
        model=type(model).__name__,
        findings=findings,
        layers=result.layers,
        losses=result.losses,
        steps=len(result.losses),
        seeds=[spec.seed + i for i in range(seeds)],
        thresholds=limits.to_dict(),
        meta=meta,
        routers=list(result.routers),
    )
