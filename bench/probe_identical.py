"""Do the probes still measure the same values? Dump, then compare two dumps.

A change that only alters how a quantity is computed (fewer reductions, reused values,
fused ops) must leave every series, every record field and every finding as they were.
``--save`` runs ``runner.run`` with the default probes (seed 0, 25 steps) on each chosen
healthy real-zoo architecture, judges the result with the default thresholds, and
writes every series value, the other RunResult fields and the findings to a JSON file.
Run it on the code before and after a change, then ``--compare`` the two files: it
prints the largest relative difference per architecture and every quantity or finding
that differs in presence.

    .venv/bin/python -m bench.probe_identical --arch timm:mobilenetv3 --save a.json
    .venv/bin/python -m bench.probe_identical --compare a.json b.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from bench import speed_models  # noqa: E402
from bench.real_zoo_cases import HEALTHY  # noqa: E402
from pytest_nnhealth.judge.core import judge  # noqa: E402
from pytest_nnhealth.judge.thresholds import Thresholds  # noqa: E402
from pytest_nnhealth.training import runner  # noqa: E402

STEPS = 25
CPU = torch.device("cpu")


def dump(built: Any, histograms: bool = True) -> dict[str, Any]:
    """Flat ``key -> value`` of one seeded run: series, record fields, findings."""
    model, batch, loss_fn, optimizer = built
    work, memo = runner.work_copy(model, CPU)
    spec = runner.RunSpec([batch] * STEPS, loss_fn, None, optimizer, STEPS, 0, CPU)
    if "histograms" in {f.name for f in dataclasses.fields(spec)}:
        # Measured only when asked since speed26: asked, to compare them too (runs
        # on older code, which always measured them, as well).
        spec = dataclasses.replace(spec, histograms=histograms)
    result = runner.run(work, memo, spec)
    flat: dict[str, Any] = {
        "losses": result.losses,
        "held": list(result.held_loss),
    }
    for name, layer in result.layers.items():
        for quantity, values in layer.series.items():
            flat[f"series/{quantity}/{name}"] = values
        for quantity, histogram in layer.histograms.items():
            flat[f"hist/{quantity}/{name}"] = histogram.counts
    for field in dataclasses.fields(result):
        if field.name not in ("layers", "losses", "held_loss", "meta"):
            flat[f"field/{field.name}"] = repr(getattr(result, field.name))
    findings = judge(result, Thresholds())
    flat["findings"] = sorted(f"{f.code} {f.module} step {f.step}" for f in findings)
    for finding in findings:
        flat[f"finding/{finding.code}/{finding.module}"] = finding.value
    return flat


def numbers(value: Any) -> list[float]:
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, list):
        return [x for item in value for x in numbers(item)]
    return []


def worst_difference(a: Any, b: Any) -> float:
    """The largest relative difference between two same-shaped values (inf when they
    differ in shape, in a non-number, or in which entries are missing)."""
    if not isinstance(a, list) or not isinstance(b, list):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return relative(float(a), float(b))
        return 0.0 if a == b else math.inf
    if len(a) != len(b):
        return math.inf
    return max((worst_difference(x, y) for x, y in zip(a, b, strict=True)), default=0)


def relative(a: float, b: float) -> float:
    if a == b or (math.isnan(a) and math.isnan(b)):
        return 0.0
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    return abs(a - b) / max(abs(a), abs(b), 1e-30)


def compare(before: dict[str, Any], after: dict[str, Any]) -> None:
    for arch in sorted(before.keys() | after.keys()):
        old, new = before.get(arch, {}), after.get(arch, {})
        missing = sorted(old.keys() ^ new.keys())
        diffs = {k: worst_difference(old[k], new[k]) for k in old.keys() & new.keys()}
        worst = max(diffs.items(), key=lambda item: item[1], default=("-", 0.0))
        same = old.get("findings") == new.get("findings")
        print(
            f"{arch}: {len(diffs)} keys, worst relative difference {worst[1]:.2e} "
            f"({worst[0]}), findings {'identical' if same else 'DIFFER'}, "
            f"keys in one dump only: {missing[:5]}{'...' if len(missing) > 5 else ''}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", help="substrings of real-zoo keys")
    parser.add_argument("--save", type=Path)
    parser.add_argument("--compare", nargs=2, type=Path)
    parser.add_argument(
        "--no-histograms", action="store_true", help="check()'s default: none"
    )
    args = parser.parse_args(argv)
    if args.compare:
        first, second = (json.loads(path.read_text()) for path in args.compare)
        compare(first, second)
        return 0
    torch.set_num_threads(1)
    speed_models.define_torchvision_ops()
    dumps = {
        f"{c.library}:{c.name}": dump(c.build(0), not args.no_histograms)
        for c in HEALTHY
        if any(a in f"{c.library}:{c.name}" for a in args.arch or [])
    }
    args.save.write_text(json.dumps(dumps))
    print(f"{len(dumps)} architectures -> {args.save}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
