"""Dead-unit verdicts on healthy ReLU MLPs trained on very small batches.

Evidence for ``judge.MIN_DEAD_SAMPLES``: with few samples per unit, "inactive on more
than 95% of the batch" becomes "inactive on every sample", which a healthy unit is by
chance. For each batch size, 10 seeds of a healthy MLP (10 -> 32 -> 32 -> 3, ReLU) run
12 steps through ``runner.run`` directly, so the judge's guard does not hide what is
measured; the table shows how often the dead-unit rule fires without the guard and the
worst trailing dead fraction.

    .venv/bin/python -m bench.dead_units_small_batches
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pytest_nnhealth.judge.base import trailing_run
from pytest_nnhealth.judge.thresholds import Thresholds
from pytest_nnhealth.training.runner import RunSpec, run

SEEDS = 10
STEPS = 12


def worst_trailing(batch: int, seed: int, limits: Thresholds) -> tuple[bool, float]:
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3)
    )
    x, y = torch.randn(batch, 10), torch.randint(0, 3, (batch,))
    spec = RunSpec([(x, y)] * STEPS, F.cross_entropy, None, None, STEPS, seed,
                   torch.device("cpu"))  # fmt: skip
    result = run(model, {}, spec)
    fired, worst = False, 0.0
    for name in ("1", "3"):
        values = result.layers[name].series["dead_fraction"]
        measured = [v for v in values if v is not None]
        worst = max(worst, *measured[-limits.window :])
        bad = trailing_run(
            values, lambda v: v > limits.dead_fraction_max, limits.window
        )
        fired = fired or bad is not None
    return fired, worst


def main() -> None:
    torch.set_num_threads(1)
    limits = Thresholds()
    print("| batch | rule fires (of 10 seeds) | worst trailing dead fraction |")
    print("|---|---|---|")
    for batch in (1, 2, 4, 8, 16, 32):
        rows = [worst_trailing(batch, seed, limits) for seed in range(SEEDS)]
        fired = sum(f for f, _ in rows)
        print(f"| {batch} | {fired} | {max(w for _, w in rows):.2f} |")


if __name__ == "__main__":
    main()
