"""``check()`` time against 25 bare training steps, on every healthy real-zoo
architecture (``bench/real_zoo_cases.py``), with the check broken into parts.

Per architecture, in one process, interleaved (bare, check, bare, check, ...; medians):

* **bare**: deep copy, the case's optimizer (``check()``'s default when it has none),
  25 plain training steps on the case's batch and one held forward: a user's own loop;
* **check**: ``check(model, batch, loss_fn=..., optimizer=...)`` with its defaults.

The check's parts are timed by wrapping the functions that do them (no change to the
package): ``copy`` (deep copy and rewiring for the run), ``steps`` (optimizer build and
the hooked training steps), ``held`` (the held batch's loss), ``collect`` (statistics
to floats), ``judge``, ``replay`` (the non-finite locator, only when needed),
``graph`` (the nnlint graph analysis) and ``rest`` (argument checks, batch copies,
caller guard, report). ``hooks`` is ``steps`` minus the bare run's 25 steps.

    .venv/bin/python -m bench.real_zoo_speed [--arch NAME...] [--repeats 3]
        [--check key=python-literal ...] [--profile NAME]
"""

from __future__ import annotations

import argparse
import copy
import functools
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import median
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from bench import speed_models  # noqa: E402
from bench.check_speed import parse_options  # noqa: E402
from bench.real_zoo_cases import HEALTHY, RealCase  # noqa: E402
from pytest_nnhealth.training import batches as batch_forms  # noqa: E402
from pytest_nnhealth.training.optimizers import build_optimizer  # noqa: E402
from pytest_nnhealth.training.runner import seed_everything  # noqa: E402

STEPS = 25
CPU = torch.device("cpu")
HEADER = (
    "| architecture | bare s | check s | ratio | bare CPU s | check CPU s | CPU ratio "
    "| graph CPU s | hooks CPU s | steps |"
)
PARTS = ("copy", "steps", "held", "collect", "judge", "replay", "graph")


def bare(case: Any, timings: dict[str, float]) -> None:
    model, batch, loss_fn, optimizer_spec = case
    memo: dict[int, Any] = {}
    work = copy.deepcopy(model, memo)
    work.train()
    optimizer, _ = build_optimizer(optimizer_spec, work, memo)
    seed_everything(0, CPU)
    started = clocks()
    for _ in range(STEPS):
        optimizer.zero_grad(set_to_none=True)
        loss = batch_forms.compute_loss(work, batch, loss_fn, None)
        loss.backward()
        optimizer.step()
    ended = clocks()
    timings["steps"], timings["steps_cpu"] = (
        e - s for e, s in zip(ended, started, strict=True)
    )
    with torch.no_grad():
        batch_forms.compute_loss(work, batch, loss_fn, None)


def _targets() -> list[tuple[Any, str, str]]:
    """(module, attribute, part): the functions whose time makes each part."""
    from pytest_nnhealth.training import (
        guarded_run,
        health_check,
        nonfinite_replay,
        runner,
    )

    return [
        (guarded_run, "wired_copy", "copy"),
        (runner, "run", "steps"),
        (runner, "_held_loss", "held"),
        (runner, "collect", "collect"),
        (health_check, "judge", "judge"),
        (nonfinite_replay, "locate_nonfinite", "replay"),
        (health_check, "graph_step", "graph"),
    ]


@contextmanager
def timed_parts(totals: dict[str, float]) -> Iterator[None]:
    """Wrap each target so that its wall time adds to ``totals[part]``; a part
    nested in another (held and collect run inside run) is subtracted from it."""
    saved = []
    stack: list[str] = []
    for owner, name, part in _targets():
        original = getattr(owner, name, None)
        if original is None:  # moved: its time is counted in "rest"
            continue
        saved.append((owner, name, original))
        setattr(owner, name, _timer(original, part, totals, stack))
    try:
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def _timer(
    function: Callable[..., Any], part: str, totals: dict[str, float], stack: list[str]
) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if "replay" in stack:  # the replay's own steps are the replay's time
            return function(*args, **kwargs)
        stack.append(part)
        started = clocks()
        try:
            return function(*args, **kwargs)
        finally:
            elapsed = [now - then for now, then in zip(clocks(), started, strict=True)]
            stack.pop()
            for suffix, value in zip(("", "_cpu"), elapsed, strict=True):
                totals[part + suffix] = totals.get(part + suffix, 0.0) + value
                if stack:  # time inside a nested part is not its caller's own time
                    outer = stack[-1] + suffix
                    totals[outer] = totals.get(outer, 0.0) - value

    return wrapper


def clocks() -> tuple[float, float]:
    """(wall, CPU) seconds. The CPU clock counts this process's threads only, so on a
    shared machine it moves far less than the wall clock."""
    return time.perf_counter(), time.process_time()


def checked(case: Any, options: dict[str, Any]) -> tuple[dict[str, float], Any]:
    from pytest_nnhealth.training.health_check import check

    model, batch, loss_fn, optimizer = case
    totals: dict[str, float] = {}
    with timed_parts(totals):
        started = clocks()
        report = check(model, batch, loss_fn=loss_fn, optimizer=optimizer, **options)
        ended = clocks()
    for suffix, now, then in zip(("", "_cpu"), ended, started, strict=True):
        totals["total" + suffix] = now - then
        parts = sum(totals.get(p + suffix, 0.0) for p in PARTS)
        totals["rest" + suffix] = totals["total" + suffix] - parts
    return totals, report


def time_case(case: RealCase, repeats: int, options: dict[str, Any]) -> dict[str, Any]:
    built = case.build(0)
    bare(built, {})  # warm-up: first-call costs are not per-check costs
    _, report = checked(built, options)
    bares: list[dict[str, float]] = []
    checks: list[dict[str, float]] = []
    for _ in range(repeats):
        timings: dict[str, float] = {}
        started = clocks()
        bare(built, timings)
        ended = clocks()
        timings["total"], timings["total_cpu"] = (
            e - s for e, s in zip(ended, started, strict=True)
        )
        bares.append(timings)
        totals, report = checked(built, options)
        checks.append(totals)
    keys = set().union(*checks)
    result: dict[str, Any] = {k: median(c.get(k, 0.0) for c in checks) for k in keys}
    for suffix in ("", "_cpu"):
        result["bare" + suffix] = median(b["total" + suffix] for b in bares)
        result["bare_steps" + suffix] = median(b["steps" + suffix] for b in bares)
        hooked = result.get("steps" + suffix, 0.0)
        result["hooks" + suffix] = hooked - result["bare_steps" + suffix]
    result["run"] = report.meta.get("run", {})
    result["errors"] = [f.check for f in report.findings if f.severity == "error"]
    return result


def profile(case: RealCase, options: dict[str, Any]) -> None:
    """cProfile (standard library) of one warm check, by cumulative time."""
    import cProfile
    import pstats

    built = case.build(0)
    checked(built, options)
    profiler = cProfile.Profile()
    profiler.enable()
    checked(built, options)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)


def row(key: str, r: dict[str, Any]) -> str:
    parts = " | ".join(f"{r.get(p + '_cpu', 0.0):.2f}" for p in ("graph", "hooks"))
    return (
        f"| {key} | {r['bare']:.2f} | {r['total']:.2f} | "
        f"{r['total'] / r['bare']:.2f}x | {r['bare_cpu']:.2f} | {r['total_cpu']:.2f} | "
        f"{r['total_cpu'] / r['bare_cpu']:.2f}x | {parts} | "
        f"{r['run'].get('steps', '-')} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--arch", nargs="*", default=None, help="substrings of keys")
    parser.add_argument("--check", nargs="*", default=[], help="key=python-literal")
    parser.add_argument("--profile", default=None, help="profile one architecture")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    speed_models.define_torchvision_ops()
    cases = {f"{c.library}:{c.name}": c for c in HEALTHY}
    if args.arch:
        cases = {k: c for k, c in cases.items() if any(a in k for a in args.arch)}
    options = parse_options(args.check)
    if args.profile:
        profile(next(c for k, c in cases.items() if args.profile in k), options)
        return 0
    print(
        f"options: {options or 'defaults'}, threads {args.threads}, median of "
        f"{args.repeats}, interleaved; load average {os.getloadavg()[0]:.1f}\n"
    )
    print(HEADER)
    print("|" + "---|" * HEADER.count(" | ") + "---|")
    ratios: dict[str, list[float]] = {"wall": [], "CPU": []}
    for key, case in cases.items():
        result = time_case(case, args.repeats, options)
        ratios["wall"].append(result["total"] / result["bare"])
        ratios["CPU"].append(result["total_cpu"] / result["bare_cpu"])
        print(row(key, result), flush=True)
        names = (*PARTS, "rest", "bare_steps")
        detail = ", ".join(f"{p} {result.get(p + '_cpu', 0.0):.2f}" for p in names)
        print(
            f"  CPU s: {detail}; errors {result['errors'] or 'none'}", file=sys.stderr
        )
    for clock, values in ratios.items():
        print(
            f"\n{clock}: {sum(r <= 1.5 for r in values)}/{len(values)} within 1.5x, "
            f"worst {max(values):.2f}x",
            end="",
        )
    print(f"; load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
