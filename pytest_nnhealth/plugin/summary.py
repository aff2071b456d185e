"""The end-of-session health table: a pure function of the session's records.

One row per checked model: verdict, number of measured layers, where it was checked,
and its worst symptoms (errors first, in the order of the symptom vocabulary, which
puts the most fundamental problems first: non-finite values before dead units before
zero gradients). The
plugin writes the lines through pytest's terminal writer; tests render at a fixed width.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from pytest_nnhealth.judge.quantities import SYMPTOMS
from pytest_nnhealth.judge.records import HealthFinding
from pytest_nnhealth.reporting.runs import ModelRun, SessionRecords

_VERDICT_WORDS = {
    "healthy": "healthy",
    "warnings": "warnings",
    "unhealthy": "UNHEALTHY",
    "drifted": "DRIFTED",
    "error": "ERROR",
}
_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
_HEADERS = ("model", "verdict", "layers", "checked in", "worst symptoms")
# Below this many columns for the symptoms, they go on lines of their own.
_MIN_SYMPTOMS = 30


def render_summary(records: SessionRecords, *, width: int = 100) -> str:
    lines = []
    if records.models:
        lines.extend(_table(records.models, width))
        lines.append(_totals(records.models))
    else:
        lines.append("no models were health-checked")
    if records.lint:
        lines.append(_lint_line(records))
    return "\n".join(lines)


def _table(runs: Sequence[ModelRun], width: int) -> list[str]:
    rows = [_row(run) for run in runs]
    fixed = [
        min(max(len(row[i]) for row in [_HEADERS, *rows]), cap)
        for i, cap in enumerate((24, 9, 6, 28))
    ]
    indent = sum(fixed) + 2 * len(fixed)
    if width - indent < _MIN_SYMPTOMS:
        return _stacked(rows, fixed, width)
    lines = []
    for row in [_HEADERS, *rows]:
        # The symptoms column wraps (at most 3 lines) instead of being cut short.
        wrapped = _wrap(row[-1], width - indent)
        lines.append(_format([*row[:-1], wrapped[0]], fixed))
        lines.extend(" " * indent + more for more in wrapped[1:])
    return lines


def _stacked(
    rows: Sequence[Sequence[str]], fixed: Sequence[int], width: int
) -> list[str]:
    """Narrow terminals: the symptoms go on their own indented lines under each row."""
    lines = [_format([*_HEADERS[:-1], ""], fixed)]
    for row in rows:
        lines.append(_format([*row[:-1], ""], fixed))
        if row[-1] != "-":
            lines.extend("    " + part for part in _wrap(row[-1], width - 4))
    return lines


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, max_lines=3, placeholder=" ...") or [""]


def _format(row: Sequence[str], widths: Sequence[int]) -> str:
    cells = []
    for index, (text, size) in enumerate(zip(row[:-1], widths, strict=True)):
        text = text if len(text) <= size else text[: size - 3] + "..."
        cells.append(text.rjust(size) if index == 2 else text.ljust(size))
    return "  ".join([*cells, row[-1]]).rstrip()


def _row(run: ModelRun) -> tuple[str, str, str, str, str]:
    # "" is the model's own row (its output logits), not a layer.
    layers = "-" if run.report is None else str(sum(1 for n in run.report.layers if n))
    where = "[tool.nnhealth]" if run.origin == "config" else run.nodeid.split("::")[-1]
    return (run.model, _VERDICT_WORDS[run.verdict], layers, where, worst_symptoms(run))


def worst_symptoms(run: ModelRun, limit: int = 3) -> str:
    """``dead_units x3 (features.2: 0.81, healthy < 0.40); no_learning``."""
    if run.report is None:
        return f"error: {(run.error or 'check did not run').splitlines()[0]}"
    parts = []
    if run.drift and run.report.healthy:
        worst = run.drift[0]
        where = worst.layer or "model"
        parts.append(f"baseline: {worst.quantity} of {where} x{worst.factor:.1f}")
    groups: dict[str, list[HealthFinding]] = {}
    for finding in run.report.findings:
        groups.setdefault(finding.check, []).append(finding)
    ordered = sorted(groups.values(), key=_group_rank)
    parts.extend(_describe(group) for group in ordered[:limit])
    if len(ordered) > limit:
        parts.append(f"+{len(ordered) - limit} more")
    return "; ".join(parts) or "-"


def _group_rank(group: list[HealthFinding]) -> tuple[int, bool, int, int, str]:
    check = group[0].check
    severity = min(_SEVERITY_ORDER[finding.severity] for finding in group)
    # Root causes before the symptoms they explain (judge_order).
    consequence = all(finding.consequence_of for finding in group)
    order = SYMPTOMS.index(check) if check in SYMPTOMS else len(SYMPTOMS)
    return (severity, consequence, order, -len(group), check)


def _describe(group: list[HealthFinding]) -> str:
    first = group[0]
    count = f" x{len(group)}" if len(group) > 1 else ""
    # Graph findings name "path/to/file.py:33": the file name is enough here.
    detail = first.module.rsplit("/", 1)[-1] if first.module else "model"
    if first.value is not None:
        detail += f": {first.value:.3g}"
    if first.limit:
        detail += f", healthy {first.limit}"
    return f"{first.check}{count} ({detail})"


def _totals(runs: Sequence[ModelRun]) -> str:
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.verdict] = counts.get(run.verdict, 0) + 1
    order = ("healthy", "warnings", "unhealthy", "drifted", "error")
    words = {"warnings": "with warnings", "error": "error"}
    parts = [
        f"{counts[verdict]} {words.get(verdict, verdict)}"
        + ("s" if verdict == "error" and counts[verdict] > 1 else "")
        for verdict in order
        if verdict in counts
    ]
    noun = "model" if len(runs) == 1 else "models"
    return f"{len(runs)} {noun} checked: {', '.join(parts)}"


def _lint_line(records: SessionRecords) -> str:
    dirty = [run for run in records.lint if run.findings]
    total = sum(len(run.findings) for run in dirty)
    files = "file" if len(records.lint) == 1 else "files"
    return (
        f"nnlint: {len(records.lint)} {files} linted, {len(dirty)} with findings "
        f"({total} finding{'' if total == 1 else 's'})"
    )
