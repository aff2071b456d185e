"""Run seeded training steps on a copy of the model with every probe attached.

The runner copies the model (or, for a model that cannot be deep-copied, trains it in
place while ``check()`` holds a snapshot), rebuilds the optimizer on the copy, seeds
every RNG, runs the steps (``train_step``), and hands the probes' plain-float results
to the judge (``run_results``). Every hook lives in one ExitStack, so hooks are removed
whatever a step raises. The non-finite replay is ``nonfinite_replay``.
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

from pytest_nnhealth.judge.records import RunResult
from pytest_nnhealth.probes.activations import ActivationProbe
from pytest_nnhealth.probes.attention import AttentionProbe
from pytest_nnhealth.probes.base import Probe, RunContext, to_floats
from pytest_nnhealth.probes.dead_units import DeadUnitProbe
from pytest_nnhealth.probes.gradients import GradientProbe
from pytest_nnhealth.probes.histograms import HistogramProbe
from pytest_nnhealth.probes.logits import LogitProbe
from pytest_nnhealth.probes.plumbing import PlumbingProbe
from pytest_nnhealth.probes.rank import RankProbe
from pytest_nnhealth.probes.routers import Router
from pytest_nnhealth.probes.routing import RoutingProbe
from pytest_nnhealth.probes.saturation import SaturationProbe
from pytest_nnhealth.probes.updates import SCALE_FLOOR, UpdateProbe
from pytest_nnhealth.training import batches as batch_forms
from pytest_nnhealth.training.memory import HeapRelease, PausedCollector
from pytest_nnhealth.training.optimizers import (
    OptimizerSpec,
    build_optimizer,
    needs_closure,
)
from pytest_nnhealth.training.rewire import rewire, rewire_attributes
from pytest_nnhealth.training.run_results import collect
from pytest_nnhealth.training.stopping import Stopper, StopRule
from pytest_nnhealth.training.train_step import one_step, phase


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
    # The log-magnitude histograms the HTML report draws (check(histograms=...)); no
    # rule reads them, so a run that renders no plot does not measure them.
    histograms: bool = False


def work_copy(
    model: nn.Module, device: torch.device
) -> tuple[nn.Module, dict[int, Any]]:
    """A deep copy on ``device`` and the deepcopy memo (original id -> copy)."""
    memo: dict[int, Any] = {}
    clone = copy.deepcopy(model, memo)
    rewire_attributes(model, clone, memo)
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
    loss_fn: Any,
    scale_floor: float = SCALE_FLOOR,
    routers: tuple[Router, ...] = (),
    histograms: bool = False,
) -> list[Probe]:
    """Every probe except the non-finite locator, which only runs in a replay (see
    ``first_nonfinite_step``): healthy runs do not pay for it. The histogram probe
    only when asked (``histograms``): its values are plots, never a verdict."""
    ignore = (loss_fn,) if isinstance(loss_fn, nn.Module) else ()
    return [
        ActivationProbe(),
        GradientProbe(),
        UpdateProbe(scale_floor=scale_floor),
        DeadUnitProbe(),
        SaturationProbe(),
        PlumbingProbe(ignore),
        RankProbe(),
        *([HistogramProbe()] if histograms else []),
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
    with PausedCollector() as collector:
        return _run(model, memo, spec, probes, collector)


def _run(
    model: nn.Module,
    memo: dict[int, Any],
    spec: RunSpec,
    probes: list[Probe] | None,
    collector: PausedCollector,
) -> RunResult:
    started = time.perf_counter()
    model.train()
    optimizer, description = build_optimizer(spec.optimizer, model, memo)
    seed_everything(spec.seed, spec.device)
    ctx = RunContext.build(model, spec.steps, spec.window)
    if probes is None:
        probes = default_probes(
            spec.loss_fn, spec.update_scale_floor, spec.routers, spec.histograms
        )
    rng_at_start = _rng_state(spec.device)
    losses: list[torch.Tensor] = []
    stopped = "steps"
    stopper = spec.stopper.new() if spec.stopper is not None else None
    if spec.stopper is not None:  # fresh values of everything where verdicts compare
        ctx.deep_steps = ctx.deep_steps | spec.stopper.checkpoints
        ctx.stat_steps = ctx.stat_steps | spec.stopper.checkpoints
    heap = HeapRelease()
    with ExitStack() as stack:
        for probe in probes:
            probe.attach(ctx, stack)
        closure = needs_closure(optimizer)  # inspect.signature: once, not per step
        for step in range(spec.steps):
            losses.append(one_step(model, optimizer, probes, ctx, spec, step, closure))
            heap.after_step()  # else the probes' small tensors grow the heap
            collector.after_step()
            reason = _stop_reason(model, ctx, probes, losses, stopper, step)
            if reason is not None:
                stopped = reason
                break
    steps_done = time.perf_counter()
    ctx.steps = len(losses)  # series cover the steps that ran
    held_after = _held_loss(model, spec, rng_at_start) if spec.held else math.nan
    loss_values = to_floats(losses)
    result = collect(model, ctx, probes, loss_values, (loss_values[0], held_after))
    result.quasi_newton = isinstance(optimizer, torch.optim.LBFGS)
    result.meta.update(
        optimizer=description,
        timings={"steps_s": steps_done - started},
        run={"steps": len(losses), "planned": spec.steps, "stopped": stopped},
    )
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
        return collect(model, ctx, probes, values, (values[0], values[-1]))

    return stopper.after_step(step, floats, partial)


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
    with phase("forward and loss (held batch)", spec.steps):
        loss = batch_forms.compute_loss(
            model, spec.batches[0], spec.loss_fn, spec.step_fn
        )
    return float(loss.float().item())
