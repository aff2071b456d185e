"""Run ``check()`` with its default settings on the real-architecture zoo and publish
false alarms, detections (root cause first) and time per check.

    .venv/bin/python bench/real_zoo.py --seeds 0 1 2          # table to stdout
    .venv/bin/python bench/real_zoo.py --seeds 0 1 2 --write  # docs/calibration.md
    .venv/bin/python bench/real_zoo.py --only timm:convnext_atto --seeds 0 -v

A healthy case raises a *false alarm* when ``check()`` reports any error finding. A
broken case is *detected* when its expected root-cause symptom is reported on the
expected module, and *root cause first* when that finding comes first in the report
and no other error finding stands as an independent cause (each is either the same
symptom or marked as a consequence).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.real_zoo_broken import BROKEN  # noqa: E402
from bench.real_zoo_cases import HEALTHY, RealCase  # noqa: E402
from bench.real_zoo_doc import write_section  # noqa: E402

CASES: list[RealCase] = HEALTHY + BROKEN
BY_KEY = {f"{case.library}:{case.name}": case for case in CASES}


def run_one(key: str, seed: int) -> dict[str, Any]:
    import torch

    from pytest_nnhealth import check

    torch.set_num_threads(1)
    case = BY_KEY[key]
    model, batch, loss_fn, optimizer = case.build(seed)
    started = time.perf_counter()
    try:
        report = check(model, batch, loss_fn=loss_fn, optimizer=optimizer, seed=seed)
    except Exception as error:  # noqa: BLE001 - a bench row, not a crash
        return {
            "key": key,
            "seed": seed,
            "healthy_case": case.healthy,
            "seconds": time.perf_counter() - started,
            "steps": 0,
            "findings": [],
            "verdict": f"error: {type(error).__name__}: {error}".splitlines()[0],
        }
    elapsed = time.perf_counter() - started
    findings = [f.to_dict() for f in report.findings if f.severity == "error"]
    return {
        "key": key,
        "seed": seed,
        "healthy_case": case.healthy,
        "seconds": elapsed,
        "steps": report.steps,
        "findings": findings,
        "verdict": verdict(case, findings),
    }


def verdict(case: RealCase, findings: list[dict[str, Any]]) -> str:
    if case.healthy:
        return "ok" if not findings else "false alarm"
    hits = [
        f
        for f in findings
        if f["check"] == case.cause and _inside(f["module"], case.cause_module)
    ]
    if not hits:
        return "missed"
    first = findings[0]
    causes = [f for f in findings if not f.get("consequence_of")]
    if first in hits and all(f["check"] == case.cause for f in causes):
        return "root cause first"
    return "detected, not first"


def _inside(module: str, prefix: str) -> bool:
    return not prefix or module == prefix or module.startswith(prefix + ".")


def run_all(keys: list[str], seeds: list[int], jobs: int) -> list[dict[str, Any]]:
    tasks = [(key, seed) for key in keys for seed in seeds]
    if jobs <= 1:
        return [_logged(run_one(key, seed)) for key, seed in tasks]
    with ProcessPoolExecutor(jobs) as pool:
        futures = [pool.submit(run_one, key, seed) for key, seed in tasks]
        return [_logged(future.result()) for future in futures]


def _logged(row: dict[str, Any]) -> dict[str, Any]:
    shown = ", ".join(
        f"{f['check']}@{f['module'] or 'model'}:{f['step']}"
        + (" (consequence)" if f.get("consequence_of") else "")
        for f in row["findings"]
    )
    print(
        f"{row['key']:<44} seed {row['seed']} {row['seconds']:6.1f}s "
        f"{row['verdict']:<20} {shown}",
        file=sys.stderr,
        flush=True,
    )
    return row


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", nargs="+", default=None, help="library:name keys")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--write", action="store_true", help="update the docs")
    parser.add_argument("--json", type=Path, default=None, help="save raw rows")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    keys = args.only or list(BY_KEY)
    unknown = [key for key in keys if key not in BY_KEY]
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    rows = run_all(keys, args.seeds, args.jobs)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    text = write_section(rows, CASES, args.seeds, write=args.write)
    print(text)
    bad = [r for r in rows if r["verdict"] not in ("ok", "root cause first")]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
