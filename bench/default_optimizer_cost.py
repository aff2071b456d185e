"""CPU seconds of ``optimizer.step()`` for the old default (one Adam group) and the
fan-in-scaled default (one group per learning rate), interleaved on the same model.

    nice -n 19 .venv/bin/python -m bench.default_optimizer_cost --repeats 5
"""

from __future__ import annotations

import argparse
import time

import torch

from bench import wide_attention_models as wide
from pytest_nnhealth.training.default_optimizer import DEFAULT_LR, default_optimizer


def step_seconds(optimizer: torch.optim.Optimizer, steps: int) -> float:
    started = time.process_time()
    for _ in range(steps):
        optimizer.step()
    return time.process_time() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", default=["vit_base", "bert_base"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=25)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"load average: {open('/proc/loadavg').read().split()[:3]}")
    for key in args.models:
        model = wide.MODELS[key][1](0)[0]
        for p in model.parameters():
            p.grad = torch.randn_like(p)
        old = torch.optim.Adam(model.parameters(), lr=DEFAULT_LR)
        new = default_optimizer(model)
        totals = {"one group": 0.0, "fan-in groups": 0.0}
        for _ in range(args.repeats):  # interleaved: both see the same load
            totals["one group"] += step_seconds(old, args.steps)
            totals["fan-in groups"] += step_seconds(new, args.steps)
        shown = ", ".join(f"{k} {v / args.repeats:.2f} s" for k, v in totals.items())
        groups = len(new.param_groups)
        print(f"{key}: {args.steps} steps, {groups} groups: {shown}")
    print(f"load average: {open('/proc/loadavg').read().split()[:3]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
