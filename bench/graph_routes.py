"""The graph analysis of ``check()`` by both routes, side by side, on both zoos.

For every case of the calibration zoo (``bench/zoo.py``) and the real-architecture zoo
(``bench/real_zoo.py``), seed 0, in one process: the model's hookless copy (what
``check()`` analyses) is analysed by the **traced** route (symbolic tracing, then
``torch.export``: what ``nnlint --fx`` does) and by the **recorded** route (one real
forward, ``nnlint.fx.recording``), interleaved, CPU seconds of this process (the
machine is shared: wall time is noise). Findings are compared as (code, file, line).

    .venv/bin/python -m bench.graph_routes [--zoo calibration real] [--only KEY...]
        [--repeats 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from statistics import median
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from nnlint.fx.analysis import analyze_routed  # noqa: E402
from pytest_nnhealth.training.graph import example_inputs  # noqa: E402
from pytest_nnhealth.training.graph_bounds import hookless_copy  # noqa: E402

ROUTES = ("traced", "recorded")


def cases(zoos: list[str]) -> Iterator[tuple[str, Any]]:
    if "calibration" in zoos:
        from bench.zoo import CASES

        for case in CASES:
            yield f"zoo:{case.name}", case.build
    if "real" in zoos:
        from bench.real_zoo import CASES as REAL

        for real in REAL:
            yield f"{real.library}:{real.name}", real.build


def analyse(model: nn.Module, batch: Any, loss_fn: Any, route: str) -> dict[str, Any]:
    clone, _ = hookless_copy(model)
    inputs = example_inputs(batch)
    started = time.process_time()
    found, how = analyze_routed(clone, inputs, loss_fn, route=route)
    cpu = time.process_time() - started
    keys = sorted((f.code, os.path.basename(f.path), f.line) for f in found)
    return {"cpu": cpu, "how": how, "findings": keys}


def compare(key: str, build: Any, repeats: int) -> dict[str, Any]:
    model, batch, loss_fn, _ = build(0)
    runs: dict[str, list[dict[str, Any]]] = {route: [] for route in ROUTES}
    for _ in range(repeats):
        for route in ROUTES:
            runs[route].append(analyse(model, batch, loss_fn, route))
    row: dict[str, Any] = {"key": key}
    for route in ROUTES:
        row[route] = runs[route][0] | {"cpu": median(r["cpu"] for r in runs[route])}
    return row


def warm_up() -> None:
    """First calls import torch.export and fake-tensor machinery: not a case's cost."""
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    batch = (torch.randn(2, 4), torch.zeros(2, dtype=torch.long))
    for route in ROUTES:
        analyse(model, batch, nn.functional.cross_entropy, route)


def line(row: dict[str, Any]) -> str:
    traced, recorded = row["traced"], row["recorded"]
    same = traced["findings"] == recorded["findings"]
    diff = "same" if same else _difference(traced["findings"], recorded["findings"])
    ratio = recorded["cpu"] / traced["cpu"] if traced["cpu"] else float("nan")
    return (
        f"| {row['key']} | {traced['how']} | {traced['cpu']:.3f} | "
        f"{recorded['how']} | {recorded['cpu']:.3f} | {ratio:.2f} | "
        f"{len(traced['findings'])} | {diff} |"
    )


def _difference(traced: list[Any], recorded: list[Any]) -> str:
    only_traced = sorted(set(traced) - set(recorded))
    only_recorded = sorted(set(recorded) - set(traced))
    parts = []
    if only_traced:
        parts.append(
            "traced only: " + ", ".join(f"{c} {f}:{n}" for c, f, n in only_traced)
        )
    if only_recorded:
        parts.append(
            "recorded only: " + ", ".join(f"{c} {f}:{n}" for c, f, n in only_recorded)
        )
    return "; ".join(parts)


def start(doc: str, argv: list[str] | None) -> argparse.Namespace:
    """The options of a graph bench (``--zoo``, ``--only``, ``--repeats``), after
    the warm-up, with the load average printed."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--zoo", nargs="+", default=["calibration", "real"])
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warm_up()
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    return args


def selected(args: argparse.Namespace) -> Iterator[tuple[str, Any]]:
    for key, build in cases(args.zoo):
        if not args.only or any(part in key for part in args.only):
            yield key, build


def main(argv: list[str] | None = None) -> int:
    args = start(__doc__, argv)
    print(
        "| case | traced route | traced CPU s | recorded route | recorded CPU s | "
        "ratio | findings | difference |"
    )
    print("|---|---|---|---|---|---|---|---|")
    totals = dict.fromkeys(ROUTES, 0.0)
    different = 0
    for key, build in selected(args):
        row = compare(key, build, args.repeats)
        for route in ROUTES:
            totals[route] += row[route]["cpu"]
        different += row["traced"]["findings"] != row["recorded"]["findings"]
        print(line(row), flush=True)
    print(
        f"\ntotal CPU s: traced {totals['traced']:.2f}, recorded "
        f"{totals['recorded']:.2f}; cases with different findings: {different}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
