"""Margins of the attention and output-logit thresholds: the judged statistic of every
healthy and broken run, with only the two probes attached (fast), so the defaults can
be placed between the healthy worst and the broken best.

Runs the zoo's transformer cases (``--seeds``, default 5) and every healthy
real-architecture case (3 seeds; transformers models in both ``eager`` and ``sdpa``
attention). Per run, the statistic each rule compares with its threshold on the last
``window`` sampled steps:

* entropy: the lowest head's highest normalised entropy over the window (fires below
  ``attention_entropy_min``);
* growth: the highest head's lowest ``min(logit / attention_logit_max,
  logit / (attention_logit_growth * logit at step 0))`` over the window (fires above 1);
* drift: the smallest ``|mean logit - mean logit at step 0|`` over the window, for
  softmax outputs (fires above ``logit_shift_max``).

    .venv/bin/python -m bench.attention_margins [--seeds 5] [--real-seeds 3]
        [--no-real] [--unseen KEY ...] [--unseen-seeds 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from pytest_nnhealth.judge.attention import SOFTMAX_AXIS, heads_of  # noqa: E402
from pytest_nnhealth.judge.thresholds import Thresholds  # noqa: E402
from pytest_nnhealth.probes.attention import AttentionProbe  # noqa: E402
from pytest_nnhealth.probes.logits import LogitProbe  # noqa: E402
from pytest_nnhealth.training.runner import RunSpec, run, wired_copy  # noqa: E402

LIMITS = Thresholds()
ZOO = [
    "transformer_preln_adamw",
    "transformer_mha_adamw",
    "transformer_sdpa_adamw",
    "attention_qk_init_large",
    "attention_logits_lr_high",
    "lm_head_lr_high",
]


def measure(model: Any, batch: Any, loss_fn: Any, optimizer: Any, seed: int):
    steps = 25
    spec = RunSpec(
        [batch] * steps, loss_fn, None, optimizer, steps, seed, torch.device("cpu")
    )
    clone, memo, spec = wired_copy(model, spec)
    result = run(clone, memo, spec, [AttentionProbe(), LogitProbe()])
    return statistics(result.layers)


def _tail(values: list[float | None]) -> list[float]:
    return [v for v in values if v is not None][-LIMITS.window :]


def statistics(layers: dict[str, Any]) -> dict[str, float | None]:
    entropy, growth, largest, spread = None, None, None, None
    for stats in layers.values():
        for values in heads_of(stats.series, "attn_entropy").values():
            value = max(_tail(values))
            entropy = value if entropy is None else min(entropy, value)
        spreads = heads_of(stats.series, "attn_logit_spread")
        for head, values in heads_of(stats.series, "attn_logit_max").items():
            start = next(v for v in values if v is not None)
            score = min(
                min(v / LIMITS.attention_logit_max,
                    v / (LIMITS.attention_logit_growth * max(start, 1e-12)))
                for v in _tail(values)
            )  # fmt: skip
            largest = score if largest is None else max(largest, score)
            widened = _widening(spreads.get(head, []))
            spread = widened if spread is None else max(spread, widened)
            score = min(score, widened / LIMITS.attention_logit_growth)
            growth = score if growth is None else max(growth, score)
    return {
        "entropy": entropy,
        "growth": growth,
        "largest": largest,
        "spread": spread,
        "drift": _drift(layers.get("")),
    }


def _widening(values: list[float | None]) -> float:
    """A head's lowest typical logit spread over the window, over its start."""
    measured = [v for v in values if v is not None]
    if not measured or measured[0] <= 0:
        return float("inf")
    return min(measured[-LIMITS.window :]) / measured[0]


def _drift(stats: Any) -> float | None:
    if stats is None or "logit_mean" not in stats.series:
        return None
    axis = [v for v in stats.series["logit_shift_grad"] if v is not None]
    if not axis or axis[0] > SOFTMAX_AXIS:
        return None
    means = [v for v in stats.series["logit_mean"] if v is not None]
    return min(abs(v - means[0]) for v in means[-LIMITS.window :])


def zoo_runs(seeds: int):
    from bench.zoo import CASES

    by_name = {case.name: case for case in CASES}
    for name in ZOO:
        case = by_name[name]
        for seed in range(seeds):
            model, batch, loss_fn, optimizer = case.build(seed)
            yield (
                f"zoo:{name}",
                case.healthy,
                measure(model, batch, loss_fn, optimizer, seed),
            )


def real_runs(seeds: int):
    from bench import torchvision_shim  # noqa: F401 - defines the nms op schemas
    from bench.real_zoo_cases import HEALTHY

    for case in HEALTHY:
        for seed in range(seeds):
            model, batch, loss_fn, optimizer = case.build(seed)
            config = getattr(model, "config", None)
            kinds = (
                ["eager", "sdpa"] if hasattr(config, "_attn_implementation") else [""]
            )
            for kind in kinds:
                if kind:
                    config._attn_implementation = kind
                key = f"{case.library}:{case.name}" + (f" ({kind})" if kind else "")
                yield key, True, measure(model, batch, loss_fn, optimizer, seed)


def unseen_runs(keys: list[str], seeds: int):
    from bench.unseen_archs import BY_KEY

    for key in keys:
        for seed in range(seeds):
            model, batch, loss_fn, optimizer = BY_KEY[key].build(seed)
            yield key, True, measure(model, batch, loss_fn, optimizer, seed)


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


# rule -> (statistic, fires when, threshold in the statistic's units, broken case)
RULES = {
    "attention_entropy_collapse": (
        "entropy", lambda v: v < LIMITS.attention_entropy_min,
        LIMITS.attention_entropy_min, "zoo:attention_qk_init_large",
    ),
    "attention_logit_growth": (
        "growth", lambda v: v > 1.0, 1.0, "zoo:attention_logits_lr_high",
    ),
    "logit_drift": (
        "drift", lambda v: v > LIMITS.logit_shift_max, LIMITS.logit_shift_max,
        "zoo:lm_head_lr_high",
    ),
}  # fmt: skip


def render(rows: dict[tuple[str, bool], list[dict[str, float | None]]]) -> str:
    lines = [
        "| case | runs | entropy (lowest) | growth score (highest) "
        "| largest-logit score (highest) | spread growth (highest) "
        "| drift nats (highest) | rules firing |",
        "|---|---|---|---|---|---|---|---|",
    ]
    columns = (
        ("entropy", min), ("growth", max), ("largest", max), ("spread", max),
        ("drift", max),
    )  # fmt: skip
    for (key, healthy), runs in rows.items():
        cells = []
        for name, worst in columns:
            values = [r[name] for r in runs if r[name] is not None]
            cells.append(fmt(worst(values)) if values else "-")
        fired = []
        for rule, (name, fires, _, _) in RULES.items():
            count = sum(1 for r in runs if r[name] is not None and fires(r[name]))
            if count:
                fired.append(f"{rule} {count}/{len(runs)}")
        label = key if healthy else f"**{key}** (broken)"
        lines.append(
            f"| {label} | {len(runs)} | " + " | ".join(cells) + f" | "
            f"{', '.join(fired) or '-'} |"
        )
    return "\n".join(lines) + "\n\n" + render_margins(rows)


def render_margins(rows: dict[tuple[str, bool], list[dict[str, float | None]]]) -> str:
    lines = [
        "| rule | threshold | healthy worst (all healthy runs) | broken best "
        "(its zoo case) |",
        "|---|---|---|---|",
    ]
    for rule, (name, _, threshold, broken) in RULES.items():
        healthy = [
            r[name] for (k, ok), runs in rows.items() if ok for r in runs
            if r[name] is not None
        ]  # fmt: skip
        bad = [r[name] for (k, _), runs in rows.items() if k == broken for r in runs]
        low_is_bad = name == "entropy"
        worst = min(healthy) if low_is_bad else max(healthy)
        best = max(bad) if low_is_bad else min(bad)  # type: ignore[type-var]
        lines.append(f"| `{rule}` | {fmt(threshold)} | {fmt(worst)} | {fmt(best)} |")
    return "\n".join(lines) + "\n"


START = "<!-- attention:start (generated by bench/attention_margins.py --write) -->"
END = "<!-- attention:end -->"
INTRO = """## Attention and output logits

The statistic each attention/logit rule compares with its threshold on the last
`window` sampled steps, per run (only the two probes attached, 25 steps, the case's
optimizer; `check()` judges exactly these statistics). *entropy*: the lowest head's
highest normalised entropy over the window (collapse below 0.25); *growth score*: the
highest head's lowest `min(logit / 20, logit / (4 x its step-0 logit), spread / (4 x
its step-0 spread))` (growth above 1), where the spread is the head's typical logit
spread (`attn_logit_spread`); *largest-logit score*: the same without the spread (the
rule before 2026-12-07); *spread growth*: the highest head's lowest spread over its
start; *drift*: the smallest `|mean logit - its step-0 value|` over the window, for
softmax outputs (drift above 6 nats). Zoo transformer cases at 5 seeds, every healthy
real architecture at 3 seeds, transformers models in both `eager` and `sdpa`
attention, and the two LeViTs of the unseen waves (BatchNorm'd q and k) at 5 seeds.
Reproduce:

    .venv/bin/python -m bench.attention_margins --seeds 5 --real-seeds 3 \\
        --unseen transformers:levit_hf timm:levit_128s --unseen-seeds 5 --write

With every probe and the whole judge (`check()` defaults), the zoo's transformer cases
at 5 seeds: 0/15 false alarms on the three healthy ones (hand-written softmax,
`nn.MultiheadAttention`, SDPA); `attention_entropy_collapse` on
`attention_qk_init_large` 5/5 (on `blocks.0.attn` 5/5), `attention_logit_growth` on
`attention_logits_lr_high` 5/5, `logit_drift` on `lm_head_lr_high` 5/5; Adam at lr 0.1
(`transformer_lr_too_high`) also shows both attention symptoms 5/5, as consequences of
its `update_ratio_high`. The real-architecture section above (`bench/real_zoo.py
--seeds 0 1 2`) ran with these probes and rules on: 0/96 false alarms. Reproduce the
zoo part:

    .venv/bin/python -m bench.calibrate --seeds 5 --no-write \\
      --case transformer_preln_adamw --case transformer_mha_adamw \\
      --case transformer_sdpa_adamw \\
      --case attention_qk_init_large --case attention_logits_lr_high \\
      --case lm_head_lr_high --case transformer_lr_too_high

"""


def write(text: str) -> None:
    doc = Path(__file__).resolve().parent.parent / "docs" / "calibration.md"
    page = doc.read_text(encoding="utf-8")
    block = f"{START}\n{INTRO}{text}{END}\n"
    if START in page and END in page:
        head, rest = page.split(START, 1)
        page = head + block + rest.split(END, 1)[1].lstrip("\n")
    else:
        page = page.rstrip("\n") + "\n\n" + block
    doc.write_text(page, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--real-seeds", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="update the docs")
    parser.add_argument(
        "--unseen", nargs="*", default=[], help="unseen-architecture keys too"
    )
    parser.add_argument("--unseen-seeds", type=int, default=3)
    parser.add_argument("--no-real", action="store_true", help="skip the real zoo")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows: dict[tuple[str, bool], list[dict[str, float | None]]] = {}
    runs = [
        *zoo_runs(args.seeds),
        *([] if args.no_real else real_runs(args.real_seeds)),
        *unseen_runs(args.unseen, args.unseen_seeds),
    ]
    for key, healthy, stats in runs:
        rows.setdefault((key, healthy), []).append(stats)
    text = render(rows)
    print(text)
    if args.write:
        write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
