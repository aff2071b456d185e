"""Calibrate ``check()``'s default thresholds on the zoo; write ``docs/calibration.md``.

Runs ``check()`` with the default thresholds on every zoo case for ``--seeds`` seeds,
records every finding and the raw per-layer series, and reports the false-alarm rate on
healthy models, the detection rate per symptom, the right-module rate, and the measured
margin behind each judged threshold (healthy worst vs broken best).

    .venv/bin/python -m bench.calibrate --seeds 5
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/calibrate.py` as well as `-m`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.calibration_doc import render_markdown, render_table  # noqa: E402
from bench.calibration_margins import run_statistics  # noqa: E402
from bench.calibration_stats import summarise  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def run_one(name: str, seed: int) -> dict[str, Any]:
    """One ``check()`` of one zoo case; plain data only (crosses process boundaries)."""
    import torch

    from bench.zoo import CASES
    from pytest_nnhealth.training.health_check import check

    torch.set_num_threads(1)
    case = next(case for case in CASES if case.name == name)
    model, batch, loss_fn, optimizer = case.build(seed)
    started = time.perf_counter()
    record: dict[str, Any] = {"case": name, "seed": seed, "error": None}
    try:
        report = check(model, batch, loss_fn=loss_fn, optimizer=optimizer, seed=seed)
    except Exception as error:  # a crash is a calibration result, not an abort
        record.update(error=f"{type(error).__name__}: {error}", findings=[], stats={})
        record.update(losses=[], passed=False, seconds=time.perf_counter() - started)
        return record
    record["seconds"] = time.perf_counter() - started
    record["passed"] = report.healthy
    record["findings"] = [finding.to_dict() for finding in report.findings]
    record["losses"] = list(report.losses)
    layers = {name: dict(stats.series) for name, stats in report.layers.items()}
    leaves, owners = _structure(model, report.meta.get("order", []))
    window = int(report.thresholds.get("window", 3))
    record["stats"] = run_statistics(layers, leaves, owners, record["losses"], window)
    return record


def _structure(model: Any, order: list[str]) -> tuple[list[str], list[str]]:
    """Leaf modules and parameter-owning modules in execution order (as the judge
    sees them; the copy ``check()`` trained has the same structure)."""
    modules = dict(model.named_modules())
    known = [name for name in order if name in modules]
    leaves = [n for n in known if not any(True for _ in modules[n].children())]
    owners = [
        n
        for n in known
        if any(p.requires_grad for p in modules[n].parameters(recurse=False))
    ]
    return leaves, owners


def run_all(names: list[str], seeds: list[int], jobs: int) -> list[dict[str, Any]]:
    tasks = [(name, seed) for name in names for seed in seeds]
    if jobs <= 1:
        return [run_one(name, seed) for name, seed in tasks]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_one, name, seed) for name, seed in tasks]
        return [future.result() for future in futures]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--case", action="append", default=[], help="only this case")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "calibration.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.jobs < 1:
        parser.error("--seeds and --jobs must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    from bench.real_zoo_doc import keep_section

    args = parse_args(argv)
    from bench.zoo import CASES

    known = [case.name for case in CASES]
    unknown = sorted(set(args.case) - set(known))
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(known)}")
        return 2
    names = args.case or known
    seeds = list(range(args.seeds))
    started = time.perf_counter()
    records = run_all(names, seeds, args.jobs)
    wall = time.perf_counter() - started
    summary = summarise(records, [c for c in CASES if c.name in names], seeds)
    print(render_table(summary))
    for record in records:
        if record["error"]:
            print(
                f"check() raised on {record['case']} seed {record['seed']}: "
                f"{record['error']}"
            )
    print(f"{len(records)} checks in {wall:.1f} s wall ({args.jobs} worker(s))")
    if not args.no_write:
        command = "python -m bench.calibrate " + " ".join(argv or sys.argv[1:])
        page = render_markdown(summary, command.strip(), wall)
        # The real-architecture section belongs to bench/real_zoo.py: keep it.
        old = args.output.read_text() if args.output.exists() else ""
        args.output.write_text(keep_section(old, page))
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
