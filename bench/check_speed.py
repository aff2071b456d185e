"""Per-check time against 25 bare training steps of the same model, in the same run.

For each architecture of ``bench/speed_models.py`` one process times, interleaved
(bare, check, bare, check, ...; the machine is shared and noisy, so side by side):

* **bare**: deep copy, build check()'s default optimizer, 25 plain training steps and
  one held forward: what a user's own loop would do, with no hook;
* **check**: ``check(model, batch, loss_fn=...)`` with its default settings (probes,
  judge, graph analysis, everything); extra keyword arguments with ``--check``.

Reports the medians and their ratio, and the steps the check ran and why it stopped.

    .venv/bin/python -m bench.check_speed [--repeats 3] [--threads 1] [--only NAME...]
        [--small-only] [--check early_stop=False] [--profile NAME]
"""

from __future__ import annotations

import argparse
import ast
import copy
import sys
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from bench import speed_models  # noqa: E402
from pytest_nnhealth.training import batches as batch_forms  # noqa: E402
from pytest_nnhealth.training.optimizers import build_optimizer  # noqa: E402
from pytest_nnhealth.training.runner import seed_everything  # noqa: E402

CPU = torch.device("cpu")
STEPS = 25


def bare(model: nn.Module, batch: Any, loss_fn: Any) -> None:
    memo: dict[int, Any] = {}
    work = copy.deepcopy(model, memo)
    work.train()
    optimizer, _ = build_optimizer(None, work, memo)
    seed_everything(0, CPU)
    for _ in range(STEPS):
        optimizer.zero_grad(set_to_none=True)
        loss = batch_forms.compute_loss(work, batch, loss_fn, None)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        batch_forms.compute_loss(work, batch, loss_fn, None)


def checked(
    model: nn.Module, batch: Any, loss_fn: Any, options: dict[str, Any]
) -> dict[str, Any]:
    from pytest_nnhealth.training.health_check import check

    report = check(model, batch, loss_fn=loss_fn, **options)
    return report.meta


def time_one(
    build: Callable[[], speed_models.Workload], repeats: int, options: dict[str, Any]
) -> dict[str, Any]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model, batch, loss_fn = build()
    bare(model, batch, loss_fn)  # warm-up: first-call costs are not per-check costs
    meta = checked(model, batch, loss_fn, options)
    times: dict[str, list[float]] = {"bare": [], "check": []}
    for _ in range(repeats):
        started = time.perf_counter()
        bare(model, batch, loss_fn)
        times["bare"].append(time.perf_counter() - started)
        started = time.perf_counter()
        meta = checked(model, batch, loss_fn, options)
        times["check"].append(time.perf_counter() - started)
    result = {name: median(values) for name, values in times.items()}
    result["meta"] = meta
    return result


def profile(
    build: Callable[[], speed_models.Workload], options: dict[str, Any]
) -> None:
    from pyinstrument import Profiler

    model, batch, loss_fn = build()
    checked(model, batch, loss_fn, options)
    profiler = Profiler(interval=0.002)
    profiler.start()
    checked(model, batch, loss_fn, options)
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False, show_all=False))


def parse_options(items: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        options[key] = ast.literal_eval(value)
    return options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--small-only", action="store_true")
    parser.add_argument("--check", nargs="*", default=[], help="key=python-literal")
    parser.add_argument("--profile", default=None, help="profile one architecture")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    speed_models.define_torchvision_ops()
    archs = dict(speed_models.SMALL)
    if not args.small_only:
        archs.update(speed_models.real())
    if args.only:
        archs = {k: v for k, v in archs.items() if any(o in k for o in args.only)}
    options = parse_options(args.check)
    if args.profile:
        name = next(k for k in archs if args.profile in k)
        profile(archs[name], options)
        return 0
    print(
        f"options: {options or 'defaults'}, threads {args.threads}, "
        f"median of {args.repeats}, interleaved\n"
    )
    print("| architecture | bare 25 steps s | check s | ratio | steps run | stop |")
    print("|---|---|---|---|---|---|")
    for name, build in archs.items():
        result = time_one(build, args.repeats, options)
        meta = result["meta"]
        run = meta.get("run", {})
        print(
            f"| {name} | {result['bare']:.2f} | {result['check']:.2f} | "
            f"{result['check'] / result['bare']:.2f}x | {run.get('steps', '-')} | "
            f"{run.get('stopped', '-')} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
