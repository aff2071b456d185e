"""Health baselines: a regression test for training dynamics.

A profile is, per model and per layer, the median over steps of every measured
quantity (activation std, gradient norm, update ratio, dead fraction, ...). A later run
*drifts* when a quantity moved by more than a factor either way. Ratios of tiny numbers
are noise, so each comparison has a floor: fractions (dead units, saturation) are
compared above 0.05, other quantities above 1/1000 of that quantity's median over all
layers of the model. The file is plain JSON, meant to be committed next to the tests.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pytest_nnhealth.records import HealthReport
from pytest_nnhealth.reporting.runs import Drift, ModelRun

FORMAT_VERSION = 1
FRACTION_FLOOR = 0.05
RELATIVE_FLOOR = 1e-3
Profile = dict[str, dict[str, float]]  # layer -> quantity -> median


class BaselineError(ValueError):
    """The baseline file cannot be read or is not a baseline."""


def profile(report: HealthReport) -> Profile:
    result: Profile = {}
    for name, stats in sorted(report.layers.items()):
        values = {}
        for quantity, series in sorted(stats.series.items()):
            finite = [v for v in series if v is not None and math.isfinite(v)]
            if finite:
                values[quantity] = float(statistics.median(finite))
        if values:
            result[name] = values
    return result


def is_fraction(quantity: str) -> bool:
    return any(word in quantity for word in ("dead", "saturat", "fraction"))


def compare(baseline: Profile, current: Profile, factor: float) -> list[Drift]:
    """Every (layer, quantity) present in both whose value moved by more than
    ``factor`` either way, largest move first."""
    floors = _floors(baseline)
    drifts = []
    for layer, quantities in baseline.items():
        for quantity, old in quantities.items():
            new = current.get(layer, {}).get(quantity)
            if new is None:
                continue
            floor = floors.get(quantity, 0.0)
            low = max(min(abs(old), abs(new)), floor)
            high = max(abs(old), abs(new), floor)
            if low == 0.0:
                continue  # both exactly zero: nothing moved
            moved = high / low
            if moved > factor:
                drifts.append(Drift(layer, quantity, old, new, moved))
    return sorted(
        drifts, key=lambda drift: (-drift.factor, drift.layer, drift.quantity)
    )


def _floors(baseline: Profile) -> dict[str, float]:
    by_quantity: dict[str, list[float]] = {}
    for quantities in baseline.values():
        for quantity, value in quantities.items():
            by_quantity.setdefault(quantity, []).append(abs(value))
    return {
        quantity: FRACTION_FLOOR
        if is_fraction(quantity)
        else RELATIVE_FLOOR * statistics.median(values)
        for quantity, values in by_quantity.items()
    }


def load(path: Path) -> dict[str, Profile]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"baseline file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BaselineError(f"cannot read baseline {path}: {error}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        raise BaselineError(
            f"{path} is not an nnhealth baseline (format {FORMAT_VERSION}); "
            "write one with --nnhealth-save-baseline"
        )
    models: dict[str, Profile] = data.get("models", {})
    return models


def save(path: Path, runs: Iterable[ModelRun]) -> int:
    """Write the profiles of ``runs`` to ``path``, keeping entries of models this run
    did not check (a partial run must not erase the rest). Returns the count written."""
    path = Path(path)
    models: dict[str, Any] = {}
    if path.exists():
        try:
            models = load(path)
        except BaselineError:
            models = {}
    written = 0
    for run in runs:
        if run.report is not None:
            models[run.key] = profile(run.report)
            written += 1
    document = {"format": FORMAT_VERSION, "models": dict(sorted(models.items()))}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", "utf-8")
    return written
