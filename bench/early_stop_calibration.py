"""Early stop on the calibration zoo: detections and false alarms with and without it.

Every zoo case (bench/zoo.py) at several seeds runs ``check()`` twice, with
``early_stop=False`` and ``early_stop=True`` (default ``steps``), and compares:

* for a broken case, whether every expected symptom is found (a "detection"), and which
  symptoms (expected or not) early stop loses;
* for a healthy case, any finding at all (a false alarm);
* the steps each run took, and the time.

Early stop may be on by default only if it loses no detection.

    .venv/bin/python -m bench.early_stop_calibration [--seeds 0 1 2] [--steps 25]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from bench.zoo import CASES  # noqa: E402
from pytest_nnhealth.training.health_check import check  # noqa: E402


def one(case: Any, seed: int, steps: int, early: bool) -> dict[str, Any]:
    model, batch, loss_fn, optimizer = case.build(seed)
    started = time.perf_counter()
    report = check(
        model, batch, loss_fn=loss_fn, optimizer=optimizer, seed=seed, steps=steps,
        early_stop=early,
    )  # fmt: skip
    return {
        "found": {f.check for f in report.findings if f.severity == "error"},
        "steps": report.steps,
        "seconds": time.perf_counter() - started,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=25)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    lost, false_new, detected = [], [], [0, 0, 0]
    steps_full = steps_early = 0
    time_full = time_early = 0.0
    for case in CASES:
        for seed in args.seeds:
            full = one(case, seed, args.steps, False)
            early = one(case, seed, args.steps, True)
            steps_full += full["steps"]
            steps_early += early["steps"]
            time_full += full["seconds"]
            time_early += early["seconds"]
            gone = full["found"] - early["found"]
            new = early["found"] - full["found"]
            if case.healthy:
                if new:
                    false_new.append((case.name, seed, sorted(new)))
            else:
                detected[0] += 1
                detected[1] += case.expected <= full["found"]
                detected[2] += case.expected <= early["found"]
            if gone:
                lost.append((case.name, seed, early["steps"], sorted(gone)))
            print(
                f"{case.name} seed {seed}: steps {full['steps']} -> {early['steps']}"
                f"{'  LOST ' + str(sorted(gone)) if gone else ''}"
                f"{'  NEW ' + str(sorted(new)) if new else ''}",
                flush=True,
            )
    print(
        f"\nbroken runs {detected[0]}: detected {detected[1]} without early stop, "
        f"{detected[2]} with"
    )
    print(f"symptoms lost with early stop: {lost or 'none'}")
    print(f"new findings on healthy runs: {false_new or 'none'}")
    print(
        f"steps {steps_full} -> {steps_early} "
        f"({steps_early / steps_full:.0%}); time {time_full:.1f} s -> "
        f"{time_early:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
