"""Cost of the routing probe against bare training steps, in the same process, on the
MoE zoo models (docs/performance.md, "Routing probe overhead").

Modes, interleaved per repeat (medians of CPU seconds per step, which a shared machine
disturbs less than wall time):

* **bare**: deep copy, optimizer, 25 steps, held forward (``bench/probe_overhead.py``);
* **routing**: the runner with the routing probe alone attached;
* **all probes**: the runner with every default probe (routing included).

    .venv/bin/python bench/moe_overhead.py --repeats 5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from statistics import median

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from bench.probe_overhead import bare, spec_for  # noqa: E402
from bench.zoo_moe import MOE_BROKEN, MOE_HEALTHY  # noqa: E402
from pytest_nnhealth.probes.routing import RoutingProbe  # noqa: E402
from pytest_nnhealth.training.runner import RunSpec, run, work_copy  # noqa: E402

CPU = torch.device("cpu")


def routing(model: torch.nn.Module, spec: RunSpec) -> None:
    work, memo = work_copy(model, CPU)
    run(work, memo, spec, [RoutingProbe()])


def all_probes(model: torch.nn.Module, spec: RunSpec) -> None:
    work, memo = work_copy(model, CPU)
    run(work, memo, spec)


MODES = {"bare": bare, "routing": routing, "all probes": all_probes}


def measure(name: str, repeats: int, steps: int = 25) -> dict[str, float]:
    case = next(c for c in MOE_HEALTHY + MOE_BROKEN if c.name == name)
    model, batch, loss_fn, _ = case.build(0)
    spec = spec_for(batch, loss_fn, steps)
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    for fn in MODES.values():  # warm-up
        fn(model, spec)
    for _ in range(repeats):
        for mode, fn in MODES.items():
            started = time.process_time()
            fn(model, spec)
            times[mode].append((time.process_time() - started) / steps)
    return {mode: median(values) for mode, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--cases", nargs="*", default=["moe_aux_loss", "moe_bias_balanced"]
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print("| case | bare ms/step | routing probe (ratio) | all probes (ratio) |")
    print("|---|---|---|---|")
    for name in args.cases:
        t = measure(name, args.repeats)
        print(
            f"| {name} | {t['bare'] * 1e3:.2f} | {t['routing'] * 1e3:.2f} "
            f"({t['routing'] / t['bare']:.2f}x) | {t['all probes'] * 1e3:.2f} "
            f"({t['all probes'] / t['bare']:.2f}x) |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
