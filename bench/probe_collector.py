"""What the garbage collector costs inside ``check()``: paused (the default) against
left on, side by side in one process.

Per architecture (healthy real-zoo cases), one warm-up check, then ``--checks``
pairs of checks, the two modes alternating: ``paused`` is check() as it is
(``training/memory.PausedCollector``: automatic collection off for the check, a
young-generation collection after each training step); ``on`` replaces the pause
with nothing, as before it existed. For each mode: the median CPU seconds of a
check, and the full (generation 2) collections that ran inside checks, with their
CPU seconds. A full collection walks every object of the process, so its cost
depends on what the process imported, not on the model.

    .venv/bin/python -m bench.probe_collector --arch transformers:switch \
        timm:mobilenetv3 [--checks 8]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import median
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from bench import speed_models  # noqa: E402
from bench.real_zoo_cases import HEALTHY  # noqa: E402
from pytest_nnhealth.training.health_check import check  # noqa: E402
from pytest_nnhealth.training.memory import PausedCollector  # noqa: E402


@contextmanager
def collector_left_on() -> Iterator[None]:
    """check() without its pause: every PausedCollector does nothing."""
    saved = PausedCollector.__enter__

    def enter(self: PausedCollector) -> PausedCollector:
        self.owner = self.counted = False
        return self

    PausedCollector.__enter__ = enter  # type: ignore[method-assign]
    try:
        yield
    finally:
        PausedCollector.__enter__ = saved  # type: ignore[method-assign]


class FullCollections:
    """Counts generation-2 collections and their CPU seconds while ``on``."""

    def __init__(self) -> None:
        self.count, self.seconds, self._started, self.on = 0, 0.0, 0.0, False
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if not self.on or info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.process_time()
        else:
            self.count += 1
            self.seconds += time.process_time() - self._started


def one_check(built: Any, counter: FullCollections) -> float:
    model, batch, loss_fn, optimizer = built
    counter.on = True
    started = time.process_time()
    check(model, batch, loss_fn=loss_fn, optimizer=optimizer)
    elapsed = time.process_time() - started
    counter.on = False
    return elapsed


def compare(built: Any, checks: int) -> dict[str, tuple[float, int, float]]:
    check(built[0], built[1], loss_fn=built[2], optimizer=built[3])  # warm-up
    times: dict[str, list[float]] = {"paused": [], "on": []}
    counters = {mode: FullCollections() for mode in times}
    for _ in range(checks):
        times["paused"].append(one_check(built, counters["paused"]))
        with collector_left_on():
            times["on"].append(one_check(built, counters["on"]))
    for counter in counters.values():
        gc.callbacks.remove(counter._callback)
    return {
        mode: (median(times[mode]), counters[mode].count, counters[mode].seconds)
        for mode in times
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", required=True, help="substrings of keys")
    parser.add_argument("--checks", type=int, default=8)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    speed_models.define_torchvision_ops()
    print(f"load average {os.getloadavg()[0]:.1f}; {args.checks} checks per mode")
    print("| architecture | tracked objects | mode | median check CPU s | full "
          "collections | their CPU s |\n|---|---|---|---|---|---|")  # fmt: skip
    for case in HEALTHY:
        key = f"{case.library}:{case.name}"
        if not any(a in key for a in args.arch):
            continue
        result = compare(case.build(0), args.checks)
        objects = len(gc.get_objects())
        for mode, (seconds, count, spent) in result.items():
            print(
                f"| {key} | {objects} | {mode} | {seconds:.3f} | {count} | "
                f"{spent:.2f} |",
                flush=True,
            )
    print(f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
