"""The recorded graph on a few samples of the batch against the whole batch.

For every case of both zoos (``bench/zoo.py``, ``bench/real_zoo.py``), seed 0, in one
process, interleaved: ``check()``'s graph analysis by the recorded route on the
hookless copy, once with the batch cut to a few samples (``nnlint.fx.slicing``, the
default) and once with the whole batch. Findings are compared as (code, file, line);
CPU seconds of this process (the machine is shared: wall time is noise).

    .venv/bin/python -m bench.graph_slice [--zoo calibration real] [--only KEY...]
        [--repeats 1]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from statistics import median
from typing import Any
from unittest import mock

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from bench.graph_routes import _difference, analyse, selected, start  # noqa: E402
from nnlint.fx import analysis  # noqa: E402
from nnlint.fx.inputs import example_inputs as inputs_of  # noqa: E402
from nnlint.fx.slicing import batch_slice  # noqa: E402
from pytest_nnhealth.training.graph import example_inputs  # noqa: E402

MODES = ("whole", "sliced")


def run(model: Any, batch: Any, loss_fn: Any, mode: str) -> dict[str, Any]:
    if mode == "sliced":
        return analyse(model, batch, loss_fn, "recorded")
    with mock.patch.object(analysis, "batch_slice", return_value=None):
        return analyse(model, batch, loss_fn, "recorded")


def compare(key: str, build: Any, repeats: int) -> dict[str, Any]:
    model, batch, loss_fn, _ = build(0)
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    for _ in range(repeats):
        for mode in MODES:
            runs[mode].append(run(model, batch, loss_fn, mode))
    row: dict[str, Any] = {"key": key, "slice": _slice_size(model, batch)}
    for mode in MODES:
        row[mode] = runs[mode][0] | {"cpu": median(r["cpu"] for r in runs[mode])}
    return row


def _slice_size(model: Any, batch: Any) -> str:
    try:
        sliced = batch_slice(inputs_of(model, example_inputs(batch)))
    except TypeError:
        return "-"
    return "whole" if sliced is None else f"{sliced.samples} of {sliced.of}"


def main(argv: list[str] | None = None) -> int:
    args = start(__doc__, argv)
    print(
        "| case | samples | whole CPU s | sliced CPU s | how | findings | difference |"
    )
    print("|---|---|---|---|---|---|---|")
    totals = dict.fromkeys(MODES, 0.0)
    different = 0
    for key, build in selected(args):
        row = compare(key, build, args.repeats)
        whole, sliced = row["whole"], row["sliced"]
        for mode in MODES:
            totals[mode] += row[mode]["cpu"]
        same = whole["findings"] == sliced["findings"]
        different += not same
        diff = "same" if same else _difference(whole["findings"], sliced["findings"])
        print(
            f"| {key} | {row['slice']} | {whole['cpu']:.3f} | {sliced['cpu']:.3f} | "
            f"{sliced['how']} | {len(whole['findings'])} | {diff} |",
            flush=True,
        )
    print(
        f"\ntotal CPU s: whole {totals['whole']:.2f}, sliced {totals['sliced']:.2f}; "
        f"cases with different findings: {different}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
