"""Where the probes' time goes, callback by callback, by kind of step.

``bench/probe_split.py`` measures a probe by difference (a run with it against a run
without), which is noisy on a loaded machine and cannot split a probe's time between
its hooks and its per-step calls. This bench runs the default probes and wraps, with
the process CPU clock (``time.process_time``; not cProfile, which misattributes time
inside hooks), every callback a probe gives the forward hub
(``probes/forward_hub.py``) and every per-step method of every probe
(``attach_step``, ``after_backward``, ``before_update``, ``after_update``,
``end_step``), plus the hub's own ``install``. It prints, per architecture, the CPU
seconds of the 25 steps with the probes and without (each kind of step: ``plain``,
``stat``, ``deep``, as in ``probe_split``), then each callback's total per kind.
What no wrapper sees (the hook dispatch itself, the attention probe's mode) is the
difference between the excess and the sum of the rows.

    .venv/bin/python -m bench.probe_hooks --arch transformers:switch [--repeats 3]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from bench import speed_models  # noqa: E402
from bench.probe_split import KINDS, STEPS, kind, step_times  # noqa: E402
from bench.real_zoo_cases import HEALTHY  # noqa: E402
from pytest_nnhealth.probes.base import RunContext  # noqa: E402
from pytest_nnhealth.probes.forward_hub import ForwardHub  # noqa: E402
from pytest_nnhealth.training import runner  # noqa: E402

METHODS = ("attach_step", "after_backward", "before_update", "after_update", "end_step")
Totals = dict[tuple[str, str], float]


class Clock:
    """CPU seconds per (label, kind of step); the step is read from the run's
    context, which the patched ``RunContext.__post_init__`` remembers."""

    def __init__(self) -> None:
        self.totals: Totals = defaultdict(float)
        self.ctx: RunContext | None = None

    def timed(self, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                step = kind(self.ctx.step) if self.ctx is not None else "plain"
                self.totals[(label, step)] += time.process_time() - started

        return wrapper


def instrument(clock: Clock) -> list[tuple[Any, str, Any]]:
    """Patch the classes; returns what to restore."""
    saved: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, name: str, value: Any) -> None:
        saved.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, value)

    watch = ForwardHub.watch

    def timed_watch(hub: ForwardHub, module: Any, hook: Any) -> None:
        label = hook.__qualname__.replace("._hook.<locals>", "")
        watch(hub, module, clock.timed(label, hook))

    patch(ForwardHub, "watch", timed_watch)
    patch(ForwardHub, "install", clock.timed("ForwardHub.install", ForwardHub.install))
    post_init = RunContext.__post_init__

    def remembered(ctx: RunContext) -> None:
        post_init(ctx)
        clock.ctx = ctx

    patch(RunContext, "__post_init__", remembered)
    for probe in runner.default_probes(None):
        cls = type(probe)
        for name in METHODS:
            if name in cls.__dict__:
                label = f"{cls.__name__}.{name}"
                patch(cls, name, clock.timed(label, cls.__dict__[name]))
    return saved


def measure(built: Any, repeats: int) -> tuple[dict[str, float], Totals]:
    """Excess CPU seconds per kind of step (fastest step of the repeats, as in
    probe_split) and the callbacks' totals (mean over the repeats)."""
    step_times(built, runner.default_probes(built[2]))  # warm-up
    clock = Clock()
    saved = instrument(clock)
    try:
        probed = [
            step_times(built, runner.default_probes(built[2])) for _ in range(repeats)
        ]
    finally:
        for owner, name, value in reversed(saved):
            setattr(owner, name, value)
    bare = [step_times(built, []) for _ in range(repeats)]
    excess = {k: 0.0 for k in KINDS}
    for step in range(STEPS):
        with_probes = min(run[step] for run in probed)
        without = min(run[step] for run in bare)
        excess[kind(step)] += with_probes - without
    totals = {key: value / repeats for key, value in clock.totals.items()}
    return excess, totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", required=True, help="substrings of keys")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--floor", type=float, default=0.001, help="hide rows below")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    speed_models.define_torchvision_ops()
    for case in HEALTHY:
        key = f"{case.library}:{case.name}"
        if not any(a in key for a in args.arch):
            continue
        excess, totals = measure(case.build(0), args.repeats)
        cells = ", ".join(f"{k} {excess[k]:.3f}" for k in KINDS)
        print(f"\n{key} (load {os.getloadavg()[0]:.1f}): excess CPU s {cells}")
        print("| callback | plain | stat | deep |\n|---|---|---|---|")
        labels = sorted({label for label, _ in totals}, key=lambda label: -sum(
            totals.get((label, k), 0.0) for k in KINDS))  # fmt: skip
        for label in labels:
            row = [totals.get((label, k), 0.0) for k in KINDS]
            if sum(row) >= args.floor:
                cells = " | ".join(f"{value:.4f}" for value in row)
                print(f"| {label} | {cells} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
