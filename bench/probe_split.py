"""Where the probes' cost goes: per probe and per kind of step, on real-zoo models.

For each architecture (``bench/real_zoo_cases.py``, healthy ones), one process runs
``runner.run`` on a fresh deep copy with: no probe at all (the runner's own loop, the
baseline), each default probe alone, and the whole default set; modes interleaved per
repeat, the fastest repeat of each step. Every step's CPU time is recorded (the
process clock: the machine is shared) and grouped by what the schedule measures on it:

* ``plain``: neither a statistics nor a deep step (17 of 25 by default): what every
  step pays (gradient and update norms, the logit hook's dispatch, ...);
* ``stat``: statistics steps that are not deep (6 of 25): activation statistics,
  dead units, saturation, plumbing, logits, attention;
* ``deep``: the deep steps (0 and 24 since speed26), also statistics steps: rank
  on top (and histograms, which the default probes measure only when asked).

The excess of a mode over the baseline, summed over the steps of each kind, is
printed as CPU seconds.

    .venv/bin/python -m bench.probe_split --arch timm:lcnet [--repeats 3]
        [--modes all Rank]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from bench import speed_models  # noqa: E402
from bench.real_zoo_cases import HEALTHY  # noqa: E402
from pytest_nnhealth.probes.base import Probe, deep_schedule, stat_schedule  # noqa: E402
from pytest_nnhealth.training import runner  # noqa: E402

STEPS = 25
CPU = torch.device("cpu")
KINDS = ("plain", "stat", "deep")


def kind(step: int) -> str:
    if step in deep_schedule(STEPS):
        return "deep"
    return "stat" if step in stat_schedule(STEPS, 3) else "plain"


def step_times(built: Any, probes: list[Probe]) -> list[float]:
    """CPU seconds of each of the 25 steps of one run with ``probes``."""
    model, batch, loss_fn, optimizer = built
    work, memo = runner.work_copy(model, CPU)
    spec = runner.RunSpec([batch] * STEPS, loss_fn, None, optimizer, STEPS, 0, CPU)
    spec.held = False
    times: list[float] = []
    original = runner.one_step

    def timed(*args: Any, **kwargs: Any) -> torch.Tensor:
        started = time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            times.append(time.process_time() - started)

    runner.one_step = timed
    try:
        runner.run(work, memo, spec, probes)
    finally:
        runner.one_step = original
    return times


def modes(loss_fn: Any) -> dict[str, Callable[[], list[Probe]]]:
    def default() -> list[Probe]:
        return runner.default_probes(loss_fn)

    result: dict[str, Callable[[], list[Probe]]] = {"none": list, "all": default}
    for index, probe in enumerate(default()):
        name = type(probe).__name__.removesuffix("Probe")
        result[name] = functools.partial(_one_probe, default, index)
    return result


def _one_probe(default: Callable[[], list[Probe]], index: int) -> list[Probe]:
    return [default()[index]]


def split(
    built: Any, repeats: int, only: list[str] | None = None
) -> dict[str, dict[str, float]]:
    chosen = modes(built[2])
    if only:
        chosen = {k: v for k, v in chosen.items() if k == "none" or k in only}
    runs: dict[str, list[list[float]]] = {name: [] for name in chosen}
    for make in chosen.values():  # warm-up: first-call costs are not per-run costs
        step_times(built, make())
    for _ in range(repeats):
        for name, make in chosen.items():
            runs[name].append(step_times(built, make()))
    # The fastest of the repeats per step: on a shared machine noise only adds time.
    per_step = {
        name: [min(run[s] for run in rows) for s in range(STEPS)]
        for name, rows in runs.items()
    }
    result: dict[str, dict[str, float]] = {}
    for name, times in per_step.items():
        excess = {k: 0.0 for k in KINDS}
        for step, (t, base) in enumerate(zip(times, per_step["none"], strict=True)):
            excess[kind(step)] += t if name == "none" else t - base
        result[name] = excess
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", required=True, help="substrings of keys")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", nargs="*", help="e.g. all Rank (none always runs)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    speed_models.define_torchvision_ops()
    cases = {f"{c.library}:{c.name}": c for c in HEALTHY}
    for key, case in cases.items():
        if not any(a in key for a in args.arch):
            continue
        result = split(case.build(0), args.repeats, args.modes)
        print(f"\n{key} (load {os.getloadavg()[0]:.1f}); CPU s over 25 steps")
        print("| mode | plain | stat | deep | total |\n|---|---|---|---|---|")
        for name, excess in result.items():
            cells = " | ".join(f"{excess[k]:.3f}" for k in KINDS)
            print(f"| {name} | {cells} | {sum(excess.values()):.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
