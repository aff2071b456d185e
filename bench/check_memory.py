"""Where ``check()``'s extra resident memory goes, base-size models (issue 10).

One child process per (model, run), so that every peak is that run's alone. Runs:

* **bare**: ``bench.check_speed.bare`` (copy, check()'s default optimizer, the steps,
  one held forward): what a user's own loop holds;
* **runner**: the runner on a wired copy with no probe (``run(..., probes=[])``): the
  runner's own cost (RunContext, held loss, collection);
* **probe:NAME**: the runner with that one default probe;
* **nograph**: ``check(..., graph=False)``; **check**: ``check()`` with its defaults;
* a run name ending in ``+keep``: that run without ``HeapRelease`` after each step
  (as before it was added).

Peaks are the kernel's high-water mark (``VmHWM``), reset at each phase's start through
``/proc/self/clear_refs`` (Linux), so a phase's peak is its own: the caller guard's
snapshot, the working copy, every training step, the held-loss forward, the
collection, the judge, the graph step. Figures are MB above the resident memory once
model and batch are built.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.check_memory [--models ...]
        [--runs ...] [--steps 25] [--jobs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from unittest import mock

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("gpt2", "vit_base", "resnet50")
PROBES = (
    "ActivationProbe", "GradientProbe", "UpdateProbe", "DeadUnitProbe",
    "SaturationProbe", "PlumbingProbe", "RankProbe", "HistogramProbe",
    "AttentionProbe", "LogitProbe", "RoutingProbe",
)  # fmt: skip
RUNS = ("bare", "runner", *(f"probe:{p}" for p in PROBES), "nograph", "check")


def build(name: str) -> tuple[Any, Any, Any]:
    """(model, batch, loss_fn), config-built, no weights: GPT-2 base at 8 x 128 tokens
    (its own loss), timm ViT-B/16 and ResNet-50 at 8 x 3 x 224 x 224."""
    import torch

    if name == "gpt2":
        from bench.graph_budget import build as build_text

        model, batch = build_text("gpt2")
        return model, batch, None
    import timm

    torch.manual_seed(0)
    arch = {"vit_base": "vit_base_patch16_224", "resnet50": "resnet50"}[name]
    model = timm.create_model(arch, pretrained=False)
    batch = (torch.randn(8, 3, 224, 224), torch.randint(0, 1000, (8,)))
    return model, batch, torch.nn.functional.cross_entropy


def _high_water_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _reset_high_water() -> None:
    with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
        handle.write("5")


class Phases:
    """Per-phase peaks: each wrapped call resets the high-water mark on entry and reads
    it on exit; the peak of the whole run is the largest mark read before any reset."""

    def __init__(self, base: float) -> None:
        self.base = base
        self.overall = 0.0
        self.rows: dict[str, dict[str, Any]] = {}

    def mark(self) -> float:
        self.overall = max(self.overall, _high_water_mb())
        return self.overall

    def wrap(self, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        from pytest_nnhealth.training.graph_bounds import resident_mb

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self.mark()
            _reset_high_water()
            start = resident_mb()
            try:
                return function(*args, **kwargs)
            finally:
                peak = _high_water_mb()
                self.overall = max(self.overall, peak)
                row = self.rows.setdefault(
                    label, {"start": start - self.base, "peak": 0.0, "calls": 0}
                )
                row["peak"] = max(row["peak"], peak - self.base)
                row.setdefault("each", []).append(round(peak - self.base))
                row["end"] = resident_mb() - self.base
                row["calls"] += 1

        return wrapped

    def patches(self) -> list[Any]:
        from pytest_nnhealth.training import guarded_run, health_check, runner
        from pytest_nnhealth.training.caller_guard import CallerGuard

        targets = [
            (health_check, "judge", "judge"),
            (health_check, "graph_step", "graph step"),
            (guarded_run, "wired_copy", "working copy"),
            (runner, "_one_step", "training step"),
            (runner, "_held_loss", "held-loss forward"),
            (runner, "_collect", "collect"),
        ]
        out = [
            mock.patch.object(owner, attr, self.wrap(label, getattr(owner, attr)))
            for owner, attr, label in targets
        ]
        capture = CallerGuard.capture.__func__  # type: ignore[attr-defined]
        guarded = self.wrap("caller guard snapshot", capture)
        out.append(mock.patch.object(CallerGuard, "capture", classmethod(guarded)))
        return out


def measure(name: str, run: str, steps: int) -> dict[str, Any]:
    import time

    import torch

    from bench.check_speed import bare
    from pytest_nnhealth.training.graph_bounds import resident_mb

    torch.set_num_threads(1)
    model, batch, loss_fn = build(name)
    params_mb = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
    base = resident_mb()
    phases = Phases(base)
    _reset_high_water()
    cpu = time.process_time()
    meta: dict[str, Any] = {}
    for patch in phases.patches():
        patch.start()
    if run.endswith("+keep"):  # as before the release: freed heap pages kept
        from pytest_nnhealth.training import runner

        mock.patch.object(runner.HeapRelease, "after_step").start()
        run = run.removesuffix("+keep")
    if run == "bare":
        from bench import check_speed

        with mock.patch.object(check_speed, "STEPS", steps):
            bare(model, batch, loss_fn)
    elif run in ("nograph", "check"):
        from pytest_nnhealth.training.health_check import check

        graph = run == "check"
        meta = check(model, batch, loss_fn=loss_fn, steps=steps, graph=graph).meta
    else:
        _runner(model, batch, loss_fn, steps, run.partition(":")[2])
    mock.patch.stopall()
    return {
        "cpu": time.process_time() - cpu,
        "params_mb": params_mb,
        "peak_mb": phases.mark() - base,
        "phases": phases.rows,
        "graph_memory_mb": meta.get("graph_memory_mb"),
        "update_memory": meta.get("update_ratio_memory"),
        "peak_memory_mb": meta.get("peak_memory_mb"),
    }


def _runner(model: Any, batch: Any, loss_fn: Any, steps: int, probe: str) -> None:
    import torch

    from pytest_nnhealth.training import batches as batch_forms
    from pytest_nnhealth.training import guarded_run
    from pytest_nnhealth.training.runner import RunSpec, default_probes, run

    cpu = torch.device("cpu")
    batches = batch_forms.private_batches(
        batch_forms.materialise(batch, steps, False), cpu
    )
    spec = RunSpec(batches, loss_fn, None, None, steps, 0, cpu)
    work, memo, wired = guarded_run.wired_copy(model, spec)
    probes = [
        p for p in default_probes(wired.loss_fn) if probe in ("all", type(p).__name__)
    ]
    run(work, memo, wired, probes)


def _child(name: str, run: str, steps: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.check_memory", "--child", name, run, str(steps)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode:
        return {"error": done.stderr[-400:]}
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return row


def _print(name: str, run: str, row: dict[str, Any]) -> None:
    if "error" in row:
        print(f"| {name} | {run} | error: {row['error']!r} |", flush=True)
        return
    phases = "; ".join(
        f"{label} {p['start']:.0f}->{p['peak']:.0f}->{p['end']:.0f}"
        for label, p in row["phases"].items()
    )
    print(
        f"| {name} | {run} | {row['cpu']:.1f} | {row['params_mb']:.0f} | "
        f"{row['peak_mb']:.0f} | {row['peak_memory_mb']} | {phases} |",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) == 5 and sys.argv[1] == "--child":
        print(json.dumps(measure(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--runs", nargs="+", default=list(RUNS))
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--raw", action="store_true", help="each row's JSON, stderr")
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.1f}; {args.steps} steps")
    print(
        "| model | run | CPU s | params MB | peak above start MB | "
        "meta peak_memory_mb | phases: start->peak->end MB |"
    )
    print("|---|---|---|---|---|---|---|")
    # Runs of one model interleave with the other models' (the machine is shared).
    jobs = [(run, name) for run in args.runs for name in args.models]
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = pool.map(lambda job: (job, _child(job[1], job[0], args.steps)), jobs)
        for (run, name), row in rows:
            _print(name, run, row)
            if args.raw:
                print(json.dumps(row), file=sys.stderr, flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
