"""Health baselines: a regression test for training dynamics.

A profile is, per model and per layer, the median over steps of every measured
quantity (activation std, gradient norm, update ratio, dead fraction, ...). A later run
*drifts* when a quantity moved by more than a factor either way. Ratios of tiny numbers
are noise, so each comparison has a floor: fractions (dead units, saturation) are
compared above 0.05, other quantities above 1/1000 of that quantity's median over all
layers of the model. The file is plain JSON, meant to be committed next to the tests;
its ``"kind": "nnhealth-baseline"`` key marks it as ours, so saving never replaces a
file that is not a baseline (files written before the marker existed are recognised by
their exact ``{"format": 1, "models": ...}`` shape).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nnlint.engine.atomic_write import write_atomic
from pytest_nnhealth.judge.records import HealthReport
from pytest_nnhealth.reporting.runs import Drift, ModelRun

FORMAT_VERSION = 1
KIND = "nnhealth-baseline"
FRACTION_FLOOR = 0.05
RELATIVE_FLOOR = 1e-3
Profile = dict[str, dict[str, float]]  # layer -> quantity -> median
# Not profiled: the mean output logit is signed and sits near 0 by design, and the
# softmax-axis test of the logits' gradient sits at rounding level (~1e-8) for
# cross-entropy; a ratio of either between runs is noise.
NOT_COMPARED = frozenset({"logit_mean", "logit_shift_grad"})


class BaselineError(ValueError):
    """The baseline file cannot be read or is not a baseline."""


def profile(report: HealthReport) -> Profile:
    result: Profile = {}
    for name, stats in sorted(report.layers.items()):
        values = {}
        for quantity, series in sorted(stats.series.items()):
            if quantity in NOT_COMPARED:
                continue
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
    if not is_baseline(data):
        raise BaselineError(
            f"{path} is not an nnhealth baseline (format {FORMAT_VERSION}); "
            "write one with --nnhealth-save-baseline"
        )
    return _checked_models(data.get("models", {}), path)


def is_baseline(data: Any) -> bool:
    """``data`` (a parsed JSON document) is a baseline this version writes or reads."""
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        return False
    return data.get("kind") == KIND or set(data) == {"format", "models"}


def _checked_models(models: Any, path: Path) -> dict[str, Profile]:
    """``models`` as a mapping model -> layer -> quantity -> number, or an error
    naming the file and the first key holding something else."""
    where = f"{path}: models"
    if not isinstance(models, dict):
        raise BaselineError(f"{where} must be a table, got {_kind(models)}")
    for model, layers in models.items():
        if not isinstance(layers, dict):
            raise BaselineError(
                f"{where}[{model!r}] must be a table, got {_kind(layers)}"
            )
        for layer, quantities in layers.items():
            key = f"{where}[{model!r}][{layer!r}]"
            if not isinstance(quantities, dict):
                raise BaselineError(f"{key} must be a table, got {_kind(quantities)}")
            for quantity, value in quantities.items():
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise BaselineError(
                        f"{key}[{quantity!r}] must be a number, got {value!r}"
                    )
    return models


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


def check_replaceable(path: Path) -> None:
    """Raise ``BaselineError`` when ``path`` exists and is not a baseline: saving must
    never replace a user's unrelated file."""
    path = Path(path)
    if not path.exists():
        return
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if not is_baseline(data):
        raise BaselineError(
            f"{path} exists and is not an nnhealth baseline; it was left unchanged "
            "(choose another path, or move the file away)"
        )


def save(path: Path, runs: Iterable[ModelRun]) -> int:
    """Write the profiles of ``runs`` to ``path`` atomically, keeping entries of models
    this run did not check (a partial run must not erase the rest). Returns the count
    written. Raises ``BaselineError`` when ``path`` holds something else."""
    path = Path(path)
    check_replaceable(path)
    models: dict[str, Any] = load(path) if path.exists() else {}
    written = 0
    for run in runs:
        if run.report is not None:
            models[run.key] = profile(run.report)
            written += 1
    document = {
        "format": FORMAT_VERSION,
        "kind": KIND,
        "models": dict(sorted(models.items())),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=1, sort_keys=True) + "\n"
    write_atomic(path, text.encode("utf-8"))
    return written
