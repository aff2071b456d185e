"""Which default optimizer keeps wide attention models clean (issue 10).

Runs ``check()`` (graph off) on the config-built models of
``bench/wide_attention_models.py`` with candidate optimizers, interleaved per model and
seed, and prints per run: the attention_logit_growth finding (module, value, onset
step), every other error finding, the loss ratio (last / first) and CPU seconds.

    nice -n 19 .venv/bin/python -m bench.default_optimizer --seeds 0 1 2
    nice -n 19 .venv/bin/python -m bench.default_optimizer --only vit_base \
        --candidates adam warmup10 --seeds 0
    nice -n 19 .venv/bin/python -m bench.default_optimizer --depth 2 \
        --only t5_base beit_base --candidates default rms --seeds 0 1 2
    .venv/bin/python -m bench.default_optimizer --table runs.jsonl  # markdown table

Candidates ``rms`` (steps follow each wide matrix's init RMS) and ``input1e-3`` (the
input layer at the base rate) were measured in session 25, ``normfree`` (layers feeding
a normalisation at the plain fan-in rate) in session 26: docs/check.md. ``--only``
also takes the unseen architectures' keys (``transformers:levit_hf``).

    nice -n 19 .venv/bin/python -m bench.default_optimizer \
        --only transformers:levit_hf --candidates default normfree --seeds 0 1 2 3
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
from bench.norm_fed import normalised_weights
from bench.unseen_archs import BY_KEY
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


def adam_at(rates: list[float]) -> Factory:
    """Adam with one lr per parameter, in the order of the model's ``parameters()``
    (the factory gets the copy's parameters in that order), grouped by lr."""

    def factory(params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        groups: dict[float, list[nn.Parameter]] = {}
        for p, lr in zip(params, rates, strict=True):
            groups.setdefault(lr, []).append(p)
        return torch.optim.Adam([{"params": ps, "lr": lr} for lr, ps in groups.items()])

    return factory


def width_scaled(model: nn.Module, base: int) -> Factory:
    """The package's width scaling (``fan_ins``) with another base."""
    fan_in = dopt.fan_ins(model)
    scales = [fan_in.get(id(p), 0) for p in model.parameters()]
    return adam_at([LR * min(1.0, base / n) if n else LR for n in scales])


def scale_relative(model: nn.Module, near_zero: float = 0.0) -> Factory:
    """The default's rates, further multiplied on each wide matrix (fan-in above the
    base) by ``min(1, rms(w0) * sqrt(3 * fan_in))``: its init's RMS over PyTorch's
    default for that fan-in (uniform at ``1/sqrt(fan_in)``, RMS ``1/sqrt(3 fan_in)``).
    Under the fan-in rate a default-drawn layer's output moves by the same share of
    itself per step at every width; a matrix drawn smaller (T5's W_q at
    ``(d_model * d_kv) ** -0.5``) would move by more, and this holds it to the same
    share (Adafactor's relative step, capped at the default's). A matrix whose share
    is at most ``near_zero`` keeps the default's rate, as a zero-drawn one does."""
    fan_in = dopt.fan_ins(model)
    rates = []
    for p in model.parameters():
        n = fan_in.get(id(p), 0)
        rate = LR * min(1.0, dopt.FAN_IN_BASE / n) if n else LR
        if n > dopt.FAN_IN_BASE:
            rms = p.detach().float().pow(2).mean().sqrt().item()
            share = rms * (3 * n) ** 0.5
            if share > near_zero:  # a matrix drawn near zero grows like a zero one
                rate *= min(1.0, share)
        rates.append(rate)
    return adam_at(rates)


def base_rate_input(model: nn.Module, inputs: Any) -> Factory:
    """The default's rates, except the first summing layer to run (the input
    layer) at the base rate: muP keeps the input layer's lr width-independent, as
    its fan-in is the data's size, not a width. Found by one forward pass."""
    fan_in = dopt.fan_ins(model)
    ran: list[int] = []

    def note(module: nn.Module, *_: Any) -> None:
        ran.extend(id(p) for p in module.parameters(recurse=False) if id(p) in fan_in)

    hooks = [m.register_forward_pre_hook(note) for m in model.modules()]
    training = model.training
    model.eval()  # no running statistics move before check() copies the model
    with torch.no_grad():
        model(**inputs) if isinstance(inputs, dict) else model(inputs)
    model.train(training)
    for hook in hooks:
        hook.remove()
    first = ran[0] if ran else None
    rates = [
        LR if id(p) == first else dopt.scaled_lr(fan_in.get(id(p), 0))
        for p in model.parameters()
    ]
    return adam_at(rates)


def norm_free(model: nn.Module, inputs: Any) -> Factory:
    """The default's rates, except the weights whose layer's whole output goes into a
    normalisation (``bench/norm_fed.py``), which keep the plain fan-in rate."""
    fan_in = dopt.fan_ins(model)
    free = normalised_weights(model, inputs)
    rates = [
        dopt.scaled_lr(fan_in.get(id(p), 0))
        if id(p) in free
        else dopt.param_lr(p, fan_in.get(id(p), 0))
        for p in model.parameters()
    ]
    return adam_at(rates)


# name -> factory of the candidate, given the model and its batch's inputs
CANDIDATES: dict[str, Callable[[nn.Module, Any], Factory]] = {
    "adam": lambda m, x: lambda ps: torch.optim.Adam(ps, lr=LR),  # the old default
    "adam2.5e-4": lambda m, x: lambda ps: torch.optim.Adam(ps, lr=2.5e-4),
    "adam1e-4": lambda m, x: lambda ps: torch.optim.Adam(ps, lr=1e-4),
    "default": lambda m, x: None,  # check()'s default as the package has it now
    "warmup10": lambda m, x: lambda ps: WarmupAdam(ps, LR, 10),
    "width64": lambda m, x: width_scaled(m, 64),
    "width128": lambda m, x: width_scaled(m, 128),
    "width256": lambda m, x: width_scaled(m, 256),
    "rms": lambda m, x: scale_relative(m),
    "rms_nz": lambda m, x: scale_relative(m, near_zero=0.01),
    "input1e-3": base_rate_input,
    "normfree": norm_free,
    "adamw3e-4": lambda m, x: (
        lambda ps: torch.optim.AdamW(ps, lr=3e-4, weight_decay=0.05)
    ),
}


def run_one(model_key: str, candidate: str, seed: int) -> dict[str, Any]:
    from pytest_nnhealth import check

    build = MODELS[model_key][1] if model_key in MODELS else BY_KEY[model_key].build
    model, batch, loss_fn, _ = build(seed)
    started = time.process_time()
    report = check(
        model,
        batch,
        loss_fn=loss_fn,
        optimizer=CANDIDATES[candidate](model, batch[0]),
        seed=seed,
        graph=False,
    )
    errors = [f for f in report.findings if f.severity == "error"]
    growth = [f for f in errors if f.check == "attention_logit_growth"]
    return {
        "model": model_key,
        "width": MODELS[model_key][0] if model_key in MODELS else "-",
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
