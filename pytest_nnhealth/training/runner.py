"""Run seeded training steps on a copy of the model with every probe attached.

The runner copies the model (or, for a model that cannot be deep-copied, trains it in
place
while ``check()`` holds a snapshot), rebuilds the optimizer on the copy, seeds every
RNG,
runs the steps, and hands the probes' plain-float results to the judge. Every hook
lives in
one ExitStack, so hooks are removed whatever a step raises.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import random
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.judge.records import LayerStats, NonfiniteEvent, RunResult
from pytest_nnhealth.probes.activations import ActivationProbe
from pytest_nnhealth.probes.attention import AttentionProbe
from pytest_nnhealth.probes.base import Probe, RunContext, Series, to_floats
from pytest_nnhealth.probes.dead_units import DeadUnitProbe
from pytest_nnhealth.probes.gradients import GradientProbe
from pytest_nnhealth.probes.histograms import HistogramProbe
from pytest_nnhealth.probes.logits import LogitProbe
from pytest_nnhealth.probes.nonfinite import NonFiniteProbe
from pytest_nnhealth.probes.plumbing import PlumbingProbe
from pytest_nnhealth.probes.rank import RankProbe
from pytest_nnhealth.probes.routers import Router
from pytest_nnhealth.probes.routing import RoutingProbe
from pytest_nnhealth.probes.saturation import SaturationProbe
from pytest_nnhealth.probes.updates import SCALE_FLOOR, UpdateProbe
from pytest_nnhealth.training import batches as batch_forms
from pytest_nnhealth.training.caller_guard import running
from pytest_nnhealth.training.memory import HeapRelease
from pytest_nnhealth.training.optimizers import (
    OptimizerSpec,
    build_optimizer,
    needs_closure,
)
from pytest_nnhealth.training.rewire import rewire
from pytest_nnhealth.training.stopping import Stopper, StopRule


@dataclass
class RunSpec:
    batches: list[Any]
    loss_fn: Callable[[Any, Any], torch.Tensor] | None
    step_fn: Callable[[nn.Module, Any], torch.Tensor] | None
    optimizer: OptimizerSpec
    steps: int
    seed: int
    device: torch.device
    window: int = 3
    update_scale_floor: float = SCALE_FLOOR  # Thresholds.update_scale_floor
    held: bool = True  # measure the held batch's loss after the run
    in_place: bool = False  # the model could not be deep-copied (for error notes)
    # Budget / early stop; each run gets a fresh decider (None: every step runs).
    stopper: StopRule | None = None
    # Custom MoE routers to read (check(routers=...)); others are found automatically.
    routers: tuple[Router, ...] = ()


def work_copy(
    model: nn.Module, device: torch.device
) -> tuple[nn.Module, dict[int, Any]]:
    """A deep copy on ``device`` and the deepcopy memo (original id -> copy)."""
    memo: dict[int, Any] = {}
    clone = copy.deepcopy(model, memo)
    return clone.to(device), memo


def wired_copy(
    model: nn.Module, spec: RunSpec
) -> tuple[nn.Module, dict[int, Any], RunSpec]:
    """``work_copy`` plus the spec with its loss, step function and optimizer factory
    pointed at the copy (see ``rewire``)."""
    clone, memo = work_copy(model, spec.device)
    factory = (
        None if isinstance(spec.optimizer, torch.optim.Optimizer) else spec.optimizer
    )
    wired = rewire(
        {"loss_fn": spec.loss_fn, "step_fn": spec.step_fn, "optimizer": factory},
        model,
        memo,
    )
    spec = dataclasses.replace(
        spec,
        loss_fn=wired["loss_fn"],
        step_fn=wired["step_fn"],
        optimizer=spec.optimizer if factory is None else wired["optimizer"],
    )
    return clone, memo, spec


def identity_memo(model: nn.Module) -> dict[int, Any]:
    """For training in place: every module and tensor of the model maps to itself."""
    objects = [*model.modules(), *model.parameters(), *model.buffers()]
    return {id(obj): obj for obj in objects}


def seed_everything(seed: int, device: torch.device) -> None:
    # torch.manual_seed would also queue a lazy CUDA seed that outlives the check; seed
    # the
    # CPU generator directly and CUDA only when the run uses it.
    torch.random.default_generator.manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.manual_seed_all(seed)
    random.seed(seed)
    try:
        import numpy
    except ImportError:
        return
    numpy.random.seed(seed % 2**32)


def default_probes(
    loss_fn: Any, scale_floor: float = SCALE_FLOOR, routers: tuple[Router, ...] = ()
) -> list[Probe]:
    """Every probe except the non-finite locator, which only runs in a replay (see
    ``first_nonfinite_step``): healthy runs do not pay for it."""
    ignore = (loss_fn,) if isinstance(loss_fn, nn.Module) else ()
    return [
        ActivationProbe(),
        GradientProbe(),
        UpdateProbe(scale_floor=scale_floor),
        DeadUnitProbe(),
        SaturationProbe(),
        PlumbingProbe(ignore),
        RankProbe(),
        HistogramProbe(),
        AttentionProbe(),
        LogitProbe(),
        RoutingProbe(routers),
    ]


def run(
    model: nn.Module,
    memo: dict[int, Any],
    spec: RunSpec,
    probes: list[Probe] | None = None,
) -> RunResult:
    """Train ``model`` (already the working copy) for ``spec.steps`` with probes."""
    started = time.perf_counter()
    model.train()
    optimizer, description = build_optimizer(spec.optimizer, model, memo)
    seed_everything(spec.seed, spec.device)
    ctx = RunContext.build(model, spec.steps, spec.window)
    if probes is None:
        probes = default_probes(spec.loss_fn, spec.update_scale_floor, spec.routers)
    rng_at_start = _rng_state(spec.device)
    losses: list[torch.Tensor] = []
    stopped = "steps"
    stopper = spec.stopper.new() if spec.stopper is not None else None
    if spec.stopper is not None:  # fresh rank values where verdicts are compared
        ctx.deep_steps = ctx.deep_steps | spec.stopper.checkpoints
    heap = HeapRelease()
    with ExitStack() as stack:
        for probe in probes:
            probe.attach(ctx, stack)
        for step in range(spec.steps):
            losses.append(_one_step(model, optimizer, probes, ctx, spec, step))
            heap.after_step()  # else the probes' small tensors grow the heap
            reason = _stop_reason(model, ctx, probes, losses, stopper, step)
            if reason is not None:
                stopped = reason
                break
    steps_done = time.perf_counter()
    ctx.steps = len(losses)  # series cover the steps that ran
    held_after = _held_loss(model, spec, rng_at_start) if spec.held else math.nan
    loss_values = to_floats(losses)
    result = _collect(model, ctx, probes, loss_values, (loss_values[0], held_after))
    result.meta.update(
        optimizer=description,
        timings={"steps_s": steps_done - started},
        run={"steps": len(losses), "planned": spec.steps, "stopped": stopped},
    )
    return result


def run_and_locate(
    model: nn.Module,
    memo: dict[int, Any],
    spec: RunSpec,
    fresh: Callable[[], tuple[nn.Module, dict[int, Any], RunSpec]],
) -> RunResult:
    """``run``, then, when a NaN/Inf appeared, a replay up to that step with the
    non-finite locator on ``fresh()`` (a new copy, or the restored original): the
    result handed to the judge already says where the first NaN/Inf came from."""
    result = run(model, memo, spec)
    bad_step = first_nonfinite_step(result)
    if bad_step is not None:
        work, work_memo, replay = fresh()
        result.nonfinite = locate_nonfinite(work, work_memo, replay, bad_step)
    return result


def _stop_reason(
    model: nn.Module,
    ctx: RunContext,
    probes: list[Probe],
    losses: list[torch.Tensor],
    stopper: Stopper | None,
    step: int,
) -> str | None:
    if stopper is None or step + 1 >= ctx.steps:
        return None

    def floats() -> list[float]:
        return to_floats(losses)

    def partial() -> RunResult:
        # The held loss is measured after the run; the last training loss stands in.
        values = floats()
        return _collect(model, ctx, probes, values, (values[0], values[-1]))

    return stopper.after_step(step, floats, partial)


def first_nonfinite_step(result: RunResult) -> int | None:
    """The first step where the loss, a gradient norm or an activation statistic is
    NaN/Inf: the cheap per-step detection that decides whether to replay with the
    non-finite locator."""
    candidates = [s for s, v in enumerate(result.losses) if not math.isfinite(v)]
    for stats in result.layers.values():
        for key in (Q.ACT_MEAN, Q.ACT_STD, Q.GRAD_NORM):
            for step, value in enumerate(stats.series.get(key, [])):
                if value is not None and not math.isfinite(value):
                    candidates.append(step)
                    break
    return min(candidates, default=None)


def locate_nonfinite(
    model: nn.Module, memo: dict[int, Any], spec: RunSpec, step: int
) -> NonfiniteEvent | None:
    """Replay steps 0..``step`` (same seed, so the same trajectory on CPU) with the
    non-finite locator attached to every module."""
    replay = dataclasses.replace(spec, steps=step + 1, held=False, stopper=None)
    try:
        return run(model, memo, replay, [NonFiniteProbe()]).nonfinite
    except Exception:  # noqa: BLE001 - the first run got past this step; do not mask it
        return None


def _one_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    probes: list[Probe],
    ctx: RunContext,
    spec: RunSpec,
    step: int,
) -> torch.Tensor:
    ctx.new_step(step)
    batch = spec.batches[step]
    with ExitStack() as step_hooks:
        for probe in probes:
            probe.attach_step(step_hooks)
            probe.start_step()
        return _train_step(model, optimizer, probes, spec, step, batch)


def _train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    probes: list[Probe],
    spec: RunSpec,
    step: int,
    batch: Any,
) -> torch.Tensor:
    optimizer.zero_grad(set_to_none=True)
    with _phase("forward and loss", step, spec.in_place):
        loss = batch_forms.compute_loss(model, batch, spec.loss_fn, spec.step_fn)
    if not loss.requires_grad:
        raise ValueError(
            "check(): the loss does not require grad (no trainable parameter reaches "
            "it); "
            "are all parameters frozen, or is the forward run under torch.no_grad()?"
        )
    with _phase("backward", step, spec.in_place):
        loss.backward()
    for probe in probes:
        probe.after_backward()
    for probe in probes:
        probe.before_update()
    with _phase("optimizer.step()", step, spec.in_place), running("optimizer"):
        if needs_closure(optimizer):
            optimizer.step(_closure(model, optimizer, spec, batch))  # type: ignore[arg-type]
        else:
            optimizer.step()
    for probe in probes:
        probe.after_update()
        probe.end_step()
    return loss.detach()


def _closure(
    model: nn.Module, optimizer: torch.optim.Optimizer, spec: RunSpec, batch: Any
) -> Callable[[], torch.Tensor]:
    """For LBFGS-style optimizers, which re-evaluate the loss several times per step;
    the probes also see these re-evaluations (same batch, the weights of the line
    search)."""

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        with torch.enable_grad():
            loss = batch_forms.compute_loss(model, batch, spec.loss_fn, spec.step_fn)
            loss.backward()
        return loss.detach()

    return closure


class _phase:
    """Adds where a user exception happened (phase and step) as a note, then re-raises
    the original exception unchanged in type."""

    def __init__(self, phase: str, step: int, in_place: bool = False) -> None:
        self.phase, self.step, self.in_place = phase, step, in_place

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: BaseException | None, tb: Any) -> None:
        if error is not None and hasattr(error, "add_note"):
            where = (
                "run in place on your model, which cannot be deep-copied; its "
                "parameters, gradients, buffers, flags and plain attributes"
                if self.in_place
                else "run on a copy of the model; the caller's model"
            )
            error.add_note(
                f"nnhealth.check(): raised in {self.phase} at step {self.step} of the "
                f"health check ({where}, optimizer and RNG state were restored)"
            )


def _rng_state(device: torch.device) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
    cuda = torch.cuda.get_rng_state_all() if device.type == "cuda" else None
    return torch.get_rng_state(), cuda


@torch.no_grad()
def _held_loss(model: nn.Module, spec: RunSpec, rng: Any) -> float:
    """The first batch's loss after the run, with the RNG as at step 0 (same dropout
    masks), to compare with step 0's loss on the same batch."""
    torch.set_rng_state(rng[0])
    if rng[1] is not None:
        torch.cuda.set_rng_state_all(rng[1])
    with _phase("forward and loss (held batch)", spec.steps):
        loss = batch_forms.compute_loss(
            model, spec.batches[0], spec.loss_fn, spec.step_fn
        )
    return float(loss.float().item())


def _collect(
    model: nn.Module,
    ctx: RunContext,
    probes: list[Probe],
    losses: list[float],
    held: tuple[float, float],
) -> RunResult:
    series: Series = {}
    for probe in probes:
        for quantity, rows in probe.series().items():
            series.setdefault(quantity, {}).update(rows)
    types = {name: type(module).__name__ for name, module in model.named_modules()}
    order = list(ctx.order)
    names = order + [
        n for n in types if n not in ctx.order_set and _measured(n, series)
    ]
    layers: dict[str, LayerStats] = {}
    for name in names:
        rows = {
            q: by_module[name] for q, by_module in series.items() if name in by_module
        }
        layers[name] = LayerStats(name, types.get(name, "?"), rows)
    leaves = [
        name
        for name in order
        if not any(True for _ in model.get_submodule(name).children())
    ]
    owners = {pm.name for pm in ctx.param_modules}
    param_modules = [n for n in order if n in owners]
    param_modules += [
        pm.name for pm in ctx.param_modules if pm.name not in param_modules
    ]
    result = RunResult(layers, losses, held, order, leaves, param_modules)
    for probe in probes:  # the non-series measurements, into their typed fields
        probe.record(result)
    return result


def _measured(name: str, series: Series) -> bool:
    return any(name in rows for rows in series.values())
