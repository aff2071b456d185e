"""Estimation error of the sampled update ratio against the exact one.

The update-ratio probe keeps a fixed subset of ``SAMPLE`` coordinates per tensor instead
of a full copy of the parameters (pytest_nnhealth/probes/updates.py). Here both probes
ride the *same* run (the exact one with ``sample=None``), so every step is compared on
an identical trajectory: the calibration zoo's cases (healthy and broken) at several
seeds, plus the wider workloads of ``bench/probe_overhead.py``, whose tensors are far
above the sample size (the zoo's are mostly below it, so exact by construction).

Per (case, module, step) with both values measured: relative error
``|sampled - exact| / exact``, and whether the two sit on the same side of each
update-ratio threshold.

    .venv/bin/python -m bench.update_sampling [--seeds 0 1 2] [--sample 4096] [--real]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from statistics import median
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from bench import probe_overhead, speed_models  # noqa: E402
from bench.zoo import CASES  # noqa: E402
from pytest_nnhealth.judge.thresholds import Thresholds  # noqa: E402
from pytest_nnhealth.probes.updates import SAMPLE, UpdateProbe  # noqa: E402
from pytest_nnhealth.training.runner import RunSpec, run, wired_copy  # noqa: E402

CPU = torch.device("cpu")


def compare(built: Any, seed: int, sample: int, steps: int = 25) -> dict[str, Any]:
    model, batch, loss_fn, optimizer = built
    spec = RunSpec([batch] * steps, loss_fn, None, optimizer, steps, seed, CPU)
    exact, sampled = UpdateProbe(sample=None), UpdateProbe(sample=sample)
    work, memo, spec = wired_copy(model, spec)
    run(work, memo, spec, [exact, sampled])
    a = exact.series()["update_ratio"]
    b = sampled.series()["update_ratio"]
    limits = Thresholds()
    errors, flips = [], 0
    for module, row in a.items():
        for x, y in zip(row, b[module], strict=True):
            if x is None or y is None or x <= 0:
                continue
            errors.append(abs(y - x) / x)
            for bound in (limits.update_ratio_max, limits.update_ratio_min):
                flips += (x > bound) != (y > bound)
    memory = sampled.memory().to_dict()
    return {"errors": errors, "flips": flips, "memory": memory}


def workloads(seeds: list[int], real: bool) -> list[tuple[str, int, Any]]:
    items = [(c.name, s, lambda c=c, s=s: c.build(s)) for c in CASES for s in seeds]
    makers = dict(probe_overhead.WORKLOADS)
    if real:  # config-built timm / torchvision / transformers models, when installed
        speed_models.define_torchvision_ops()
        makers.update(speed_models.real())
    for name, make in makers.items():
        items.append((name, 0, lambda make=make: (*make(), None)))
    return items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sample", type=int, default=SAMPLE)
    parser.add_argument("--real", action="store_true", help="add real architectures")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(
        "| case | seed | values | median rel. err | p99 | max | flips | extra KiB "
        "(params KiB) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    every: list[float] = []
    total_flips = 0
    for name, seed, build in workloads(args.seeds, args.real):
        result = compare(build(), seed, args.sample)
        errors = sorted(result["errors"])
        every += errors
        total_flips += result["flips"]
        if not errors:
            continue
        p99 = errors[min(len(errors) - 1, int(0.99 * len(errors)))]
        mem = result["memory"]
        print(
            f"| {name} | {seed} | {len(errors)} | {median(errors):.2e} | {p99:.2e} "
            f"| {errors[-1]:.2e} | {result['flips']} | {mem['extra_bytes'] / 1024:.0f} "
            f"({mem['parameter_bytes'] / 1024:.0f}) |"
        )
    every.sort()
    print(
        f"\nall: {len(every)} values, median {median(every):.2e}, "
        f"p99 {every[int(0.99 * len(every))]:.2e}, max {every[-1]:.2e}, "
        f"threshold flips {total_flips}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
