"""Print the routing statistics of the MoE zoo cases over steps, and what ``check()``
finds, per seed: the evidence that the broken cases really fail.

    .venv/bin/python bench/moe_loads.py --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.zoo_moe import MOE_BROKEN, MOE_HEALTHY  # noqa: E402
from pytest_nnhealth.judge import quantities as Q  # noqa: E402
from pytest_nnhealth.judge.moe import top_share  # noqa: E402
from pytest_nnhealth.training.health_check import check  # noqa: E402

ROUTER = "moe.gate"
SHOWN = (0, 4, 8, 12, 16, 20, 24)


def describe(name: str, seed: int) -> str:
    case = next(c for c in MOE_HEALTHY + MOE_BROKEN if c.name == name)
    model, batch, loss_fn, optimizer = case.build(seed)
    report = check(model, batch, loss_fn=loss_fn, optimizer=optimizer, seed=seed)
    series = report.layers[ROUTER].series
    ratio = series[Q.EXPERT_LOAD_MAX_OVER_MEAN]
    dead = series[Q.DEAD_EXPERTS]
    tokens = [series[Q.expert_key(Q.EXPERT_TOKENS, e)] for e in range(8)]
    last = [int(row[-1] or 0) for row in tokens]
    found = sorted({f.check for f in report.findings if f.severity == "error"})
    steps = " ".join(f"{ratio[s]:.2f}/{int(dead[s] or 0)}" for s in SHOWN)
    share = top_share(tokens, 2)
    peak = max(v or 0.0 for v in ratio)
    trailing = min(v or 0.0 for v in ratio[-3:])
    return (
        f"{name:26} seed {seed}  max/mean/dead @{SHOWN}: {steps}  peak max/mean "
        f"{peak:.2f}, trailing min {trailing:.2f}; top-2 share max "
        f"{max(v or 0.0 for v in share):.2f}, trailing min "
        f"{min(v or 0.0 for v in share[-3:]):.2f}  last {last}  {found}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cases", nargs="*", default=None)
    args = parser.parse_args(argv)
    names = args.cases or [c.name for c in MOE_HEALTHY + MOE_BROKEN]
    for name in names:
        for seed in args.seeds:
            print(describe(name, seed), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
