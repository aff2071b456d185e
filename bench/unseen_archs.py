"""Default ``check()`` on architectures the real zoo does not have: a trust test on
material nobody calibrated against. Healthy by construction (library configs, no
weights); any error finding is a false alarm until shown otherwise.

    .venv/bin/python bench/unseen_archs.py --seeds 0                 # every case
    .venv/bin/python bench/unseen_archs.py --only timm:dla46_c --seeds 0 1
    .venv/bin/python bench/unseen_archs.py --json rows.json --timeout 300

Each (case, seed) runs in its own interpreter with a limit on its CPU seconds (a
hang or a blown memory budget is a row, not a stuck bench); the zoo's conventions
hold: batch 8, 32-64 px images or 16 tokens, cross-entropy on the logits,
``optimizer=None``.
Verdicts: ``ok``, ``error finding`` (a false alarm until read to its cause:
docs/unseen-architectures.md), ``crash`` (``check()`` raised),
``too slow`` (over the CPU limit), ``build failed`` (the library refused the config).
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.unseen_cases import CASES  # noqa: E402
from bench.unseen_wave2 import CASES as WAVE2  # noqa: E402
from bench.unseen_wave3 import CASES as WAVE3  # noqa: E402

WAVES = {1: CASES, 2: WAVE2, 3: WAVE3}
BY_KEY = {f"{c.library}:{c.name}": c for wave in WAVES.values() for c in wave}


def run_one(key: str, seed: int) -> dict[str, Any]:
    """One default check in this interpreter; the row as a dict."""
    import torch

    from pytest_nnhealth import check

    torch.set_num_threads(1)
    row: dict[str, Any] = {"key": key, "seed": seed, "findings": [], "steps": 0}
    try:
        model, batch, loss_fn, optimizer = BY_KEY[key].build(seed)
    except Exception as error:  # noqa: BLE001 - a bench row
        return {**row, "seconds": 0.0, "verdict": "build failed", "why": _one(error)}
    started = time.process_time()
    try:
        report = check(model, batch, loss_fn=loss_fn, optimizer=optimizer, seed=seed)
    except Exception as error:  # noqa: BLE001 - a bench row, not a crash of the bench
        cpu = time.process_time() - started
        return {**row, "seconds": cpu, "verdict": "crash", "why": _one(error)}
    errors = [f.to_dict() for f in report.findings if f.severity == "error"]
    return {
        **row,
        "seconds": time.process_time() - started,
        "steps": report.steps,
        "params": sum(p.numel() for p in model.parameters()),
        "findings": errors,
        "graph": str(report.meta.get("graph", ""))[:120],
        "verdict": "error finding" if errors else "ok",
        "why": "",
    }


def _one(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text.splitlines()[0][:300] if text.strip() else type(error).__name__


# The limit is on the child's CPU seconds, not wall time: on the shared machine (load
# 10-20) a case needing 8-15 CPU s waited past a 240 s wall limit and was reported
# "too slow". A wall limit of WALL_FACTOR times as long still ends a case that hangs
# without using the CPU (a deadlock, a sleep).
WALL_FACTOR = 10.0


def limit_cpu(seconds: float) -> None:
    """Caps this process's CPU time (SIGXCPU past it); the child calls it first thing.
    A no-op where the platform has no ``resource`` module."""
    try:
        import resource
    except ImportError:
        return
    limit = max(1, math.ceil(seconds))
    resource.setrlimit(resource.RLIMIT_CPU, (limit, limit + 5))


def _too_slow(key: str, seed: int, seconds: float, why: str) -> dict[str, Any]:
    return {
        "key": key,
        "seed": seed,
        "findings": [],
        "steps": 0,
        "seconds": seconds,
        "verdict": "too slow",
        "why": why,
    }


def run_isolated(key: str, seed: int, timeout: float) -> dict[str, Any]:
    """One case in its own interpreter, limited to ``timeout`` CPU seconds."""
    command = [sys.executable, __file__, "--child", key, "--seeds", str(seed)]
    command += ["--timeout", str(timeout)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout * WALL_FACTOR
        )
    except subprocess.TimeoutExpired:
        wall = timeout * WALL_FACTOR
        return _too_slow(key, seed, wall, f"> {wall:.0f} s wall (a hang?)")
    if done.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return _too_slow(key, seed, timeout, f"> {timeout:.0f} CPU s")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        why = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
        return {
            "key": key,
            "seed": seed,
            "findings": [],
            "steps": 0,
            "seconds": 0.0,
            "verdict": "crash",
            "why": f"exit {done.returncode}: {why}",
        }
    row: dict[str, Any] = json.loads(lines[-1])
    return row


def shown(row: dict[str, Any]) -> str:
    found = ", ".join(
        f"{f['check']}@{f['module'] or 'model'}:{f['step']}={f['value'] or 0:.3g}"
        for f in row["findings"]
    )
    return found or row.get("why", "")


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| case | seed | verdict | CPU s | steps | findings / reason |"]
    lines.append("|---|---|---|---|---|---|")
    for row in rows:
        lines.append(
            f"| {row['key']} | {row['seed']} | {row['verdict']} "
            f"| {row['seconds']:.1f} | {row['steps']} | {shown(row)} |"
        )
    counts = Counter(row["verdict"] for row in rows)
    lines.append("")
    lines.append(", ".join(f"{verdict}: {n}" for verdict, n in sorted(counts.items())))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--only", nargs="+", default=None, help="library:name keys")
    parser.add_argument(
        "--timeout", type=float, default=240.0, help="CPU seconds per case"
    )
    parser.add_argument("--wave", type=int, choices=sorted(WAVES), default=1)
    parser.add_argument("--json", type=Path, default=None, help="save raw rows")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        limit_cpu(args.timeout)
        print(json.dumps(run_one(args.child, args.seeds[0])))
        return 0
    keys = args.only or [f"{c.library}:{c.name}" for c in WAVES[args.wave]]
    unknown = [key for key in keys if key not in BY_KEY]
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    rows = []
    for key in keys:
        for seed in args.seeds:
            rows.append(run_isolated(key, seed, args.timeout))
            row = rows[-1]
            print(
                f"{key:<40} seed {seed} {row['seconds']:6.1f}s "
                f"{row['verdict']:<12} {shown(row)}",
                file=sys.stderr,
                flush=True,
            )
            if args.json:
                args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print(table(rows))
    return 0 if all(row["verdict"] == "ok" for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
