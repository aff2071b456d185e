"""Peak resident memory of ``check()`` against 25 bare training steps, base-size models.

Config-built BERT-base and GPT-2 (no weights downloaded) at batch 8 x 128 tokens. One
child process per measurement, so that each peak (``ru_maxrss``, the kernel's
high-water mark) is that run's alone: **bare** (``bench.check_speed.bare``: copy,
check()'s default optimizer, 25 steps, one held forward) and **check** (``check()``
with its defaults), interleaved. Each row gives the peak above the resident memory once
the model and batch are built, CPU seconds, and what ``check()`` reports in
``report.meta`` (``graph_memory_mb``, ``update_ratio_memory``).

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.graph_check_memory [--models ...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("bert-base", "gpt2")


def measure(name: str, mode: str) -> dict[str, Any]:
    import torch

    from bench.check_speed import bare
    from bench.graph_budget import build
    from pytest_nnhealth.training.graph_bounds import resident_mb

    torch.set_num_threads(1)
    model, batch = build(name)
    before = resident_mb()
    cpu = time.process_time()
    meta: dict[str, Any] = {}
    if mode == "bare":
        bare(model, batch, None)
    else:
        from pytest_nnhealth.training.health_check import check

        meta = check(model, batch).meta
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "cpu": time.process_time() - cpu,
        "peak_mb": peak - before,
        "graph_memory_mb": meta.get("graph_memory_mb"),
        "graph": meta.get("graph"),
        "update_memory": meta.get("update_ratio_memory"),
        "steps": meta.get("run", {}).get("steps"),
    }


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(measure(sys.argv[2], sys.argv[3])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.1f}")
    print("| model | run | CPU s | peak RSS above start MB | report.meta |")
    print("|---|---|---|---|---|")
    for name in args.models:
        for mode in ("bare", "check"):
            done = subprocess.run(
                [sys.executable, "-m", "bench.graph_check_memory", "--child", name,
                 mode],
                cwd=ROOT, capture_output=True, text=True,
            )  # fmt: skip
            if done.returncode:
                print(f"| {name} | {mode} | error: {done.stderr[-300:]} |", flush=True)
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            shown = {k: row[k] for k in ("graph_memory_mb", "update_memory", "steps")}
            print(
                f"| {name} | {mode} | {row['cpu']:.1f} | {row['peak_mb']:.0f} | "
                f"{json.dumps(shown) if mode == 'check' else ''} |",
                flush=True,
            )
    print(f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
