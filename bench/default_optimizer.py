"""Which default optimizer keeps wide attention models clean (issue 10).

Runs ``check()`` (graph off) on the config-built models of
``bench/wide_attention_models.py`` with candidate optimizers, interleaved per model and
seed, and prints per run: the attention_logit_growth finding (module, value, onset
step), every other error finding, the loss ratio (last / first) and CPU seconds.

    nice -n 19 .venv/bin/python -m bench.default_optimizer --seeds 0 1 2
    nice -n 19 .venv/bin/python -m bench.default_optimizer --only vit_base \
        --candidates adam warmup10 --seeds 0
    .venv/bin/python -m bench.default_optimizer --table runs.jsonl  # markdown table
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from bench import wide_attention_models as wide
from bench.wide_attention_models import MODELS
from pytest_nnhealth.training import default_optimizer as dopt

LR = 1e-3
Factory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer] | None


class WarmupAdam(torch.optim.Adam):
    """Adam whose lr rises linearly from lr/k to lr over its first k steps."""

    def __init__(self, params: Any, lr: float, warmup: int) -> None:
        super().__init__(params, lr=lr)
        self.warmup, self.done, self.peak = warmup, 0, lr

    def step(self, closure: Any = None) -> Any:
        scale = min(1.0, (self.done + 1) / self.warmup)
        for group in self.param_groups:
            group["lr"] = self.peak * scale
        self.done += 1
        return super().step(closure)


def width_scaled(model: nn.Module, base: int) -> Factory:
    """The package's width scaling (``fan_ins``) with another base: the factory gets
    the copy's parameters in the order of the model's ``parameters()``."""
    fan_in = dopt.fan_ins(model)
    scales = [fan_in.get(id(p), 0) for p in model.parameters()]

    def factory(params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        groups: dict[float, list[nn.Parameter]] = {}
        for p, n in zip(params, scales, strict=True):
            groups.setdefault(LR * min(1.0, base / n) if n else LR, []).append(p)
        return torch.optim.Adam([{"params": ps, "lr": lr} for lr, ps in groups.items()])

    return factory


CANDIDATES: dict[str, Callable[[nn.Module], Factory]] = {
    "adam": lambda m: lambda ps: torch.optim.Adam(ps, lr=LR),  # the default until now
    "default": lambda m: None,  # check()'s default as the package has it now
    "warmup10": lambda m: lambda ps: WarmupAdam(ps, LR, 10),
    "width64": lambda m: width_scaled(m, 64),
    "width128": lambda m: width_scaled(m, 128),
    "width256": lambda m: width_scaled(m, 256),
    "adamw3e-4": lambda m: lambda ps: torch.optim.AdamW(ps, lr=3e-4, weight_decay=0.05),
}


def run_one(model_key: str, candidate: str, seed: int) -> dict[str, Any]:
    from pytest_nnhealth import check

    model, batch, loss_fn, _ = MODELS[model_key][1](seed)
    started = time.process_time()
    report = check(
        model,
        batch,
        loss_fn=loss_fn,
        optimizer=CANDIDATES[candidate](model),
        seed=seed,
        graph=False,
    )
    errors = [f for f in report.findings if f.severity == "error"]
    growth = [f for f in errors if f.check == "attention_logit_growth"]
    return {
        "model": model_key,
        "width": MODELS[model_key][0],
        "depth": wide.DEPTH,
        "candidate": candidate,
        "seed": seed,
        "cpu_s": round(time.process_time() - started, 1),
        "growth": [(f.module, round(f.value, 1), f.step) for f in growth],
        "others": sorted({f.check for f in errors} - {"attention_logit_growth"}),
        "loss": round(report.losses[-1] / report.losses[0], 3),
    }


def table(lines: Iterable[str]) -> str:
    """Per model and candidate: runs with attention_logit_growth, the largest
    growing logit, other error findings and the median last/first loss."""
    latest: dict[tuple[str, int, str, int], dict[str, Any]] = {}
    for line in lines:  # a run measured twice: the later line counts
        if line.startswith("{"):
            row = json.loads(line)
            latest[row["model"], row["depth"], row["candidate"], row["seed"]] = row
    rows: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for (model, depth, candidate, _), row in latest.items():
        rows.setdefault((model, depth, candidate), []).append(row)
    out = [
        "| model | width | depth | optimizer | runs with growth | largest logit | "
        "other errors | loss last/first (median) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (model, depth, candidate), runs in rows.items():
        grown = [v for r in runs for _, v, _ in r["growth"]]
        others = sorted({s for r in runs for s in r["others"]})
        losses = sorted(r["loss"] for r in runs)
        out.append(
            f"| {model} | {runs[0]['width']} | {depth} | {candidate} | "
            f"{sum(bool(r['growth']) for r in runs)}/{len(runs)} | "
            f"{max(grown) if grown else '-'} | {', '.join(others) or '-'} | "
            f"{losses[len(losses) // 2]} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", nargs="+", default=list(MODELS))
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES))
    parser.add_argument("--depth", type=int, default=wide.DEPTH, help="blocks")
    parser.add_argument("--table", nargs="+", default=None, help="jsonl files")
    args = parser.parse_args(argv)
    if args.table:
        print(table(line for path in args.table for line in open(path)))
        return 0
    wide.DEPTH = args.depth
    torch.set_num_threads(1)
    print(f"load average: {open('/proc/loadavg').read().split()[:3]}", flush=True)
    for key in args.only:
        for seed in args.seeds:
            for candidate in args.candidates:  # interleaved: same load for each
                print(json.dumps(run_one(key, candidate, seed)), flush=True)
    print(f"load average: {open('/proc/loadavg').read().split()[:3]}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
