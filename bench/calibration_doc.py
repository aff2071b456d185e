"""Render a calibration ``Summary`` as a terminal table and as docs/calibration.md.

Pure functions of the summary (plus the command line, wall time, machine and date for
the reproduction section).
"""

from __future__ import annotations

import datetime
import platform
from collections.abc import Sequence
from statistics import median

from bench.calibration_margins import Margin
from bench.calibration_stats import CaseRow, Summary


def _rate(done: int, total: int) -> str:
    return f"{done}/{total} ({100 * done / total:.0f}%)" if total else "n/a"


def _case_line(row: CaseRow) -> tuple[str, ...]:
    case = row.case
    expected = ", ".join(sorted(case.expected)) or "-"
    errors = ", ".join(f"{k}:{v}" for k, v in sorted(row.symptoms.items())) or "-"
    warnings = ", ".join(f"{k}:{v}" for k, v in sorted(row.warnings.items())) or "-"
    if case.healthy:
        verdict = _rate(row.runs - row.failed, row.runs) + " clean"
    else:
        verdict = _rate(row.detected, row.runs) + " detected"
    module = "-"
    if case.expected_module is not None:
        module = f"`{case.expected_module}` {row.right_module}/{row.runs}"
    seconds = f"{median(row.seconds):.2f}" if row.seconds else "-"
    kind = "healthy" if case.healthy else "broken"
    return (case.name, kind, expected, verdict, module, errors, warnings, seconds)


CASE_HEADER = (
    "case",
    "kind",
    "expected",
    "result",
    "right module",
    "error findings (runs)",
    "warnings (runs)",
    "s/check",
)


def render_table(summary: Summary) -> str:
    lines = [_headline(summary), ""]
    rows = [CASE_HEADER] + [_case_line(row) for row in summary.rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(CASE_HEADER))]
    for row in rows:
        lines.append(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
        )
    lines.append("")
    lines.extend(_margin_lines(summary.margins, markdown=False))
    return "\n".join(lines)


def _headline(summary: Summary) -> str:
    found, total = summary.module_hits
    detected = sum(d for d, _ in summary.detection.values())
    expected = sum(t for _, t in summary.detection.values())
    return (
        f"false alarms on healthy runs: "
        f"{_rate(summary.false_alarm_runs, summary.healthy_runs)}; "
        f"symptom detections: {_rate(detected, expected)}; "
        f"right module: {_rate(found, total)}"
    )


def _margin_lines(margins: list[Margin], markdown: bool) -> list[str]:
    header = ("threshold", "default", "healthy worst", "broken best", "verdict")
    rows = [header] + [margin.cells() for margin in margins]
    if markdown:
        out = ["| " + " | ".join(row) + " |" for row in rows]
        out.insert(1, "|" + "---|" * len(header))
        return out
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    ]


def _markdown_table(
    header: tuple[str, ...], rows: Sequence[tuple[str, ...]]
) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += [
        "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
        for row in rows
    ]
    return out


def render_markdown(summary: Summary, command: str, wall: float) -> str:
    from bench.calibration_text import INTRO, NOTES, READING

    healthy = [row for row in summary.rows if row.case.healthy]
    broken = [row for row in summary.rows if not row.case.healthy]
    false_rows = [
        (symptom, _rate(count, summary.healthy_runs))
        for symptom, count in sorted(summary.false_alarms.items())
    ] or [("(none)", _rate(0, summary.healthy_runs))]
    warn_rows = [
        (symptom, _rate(count, summary.healthy_runs))
        for symptom, count in sorted(summary.healthy_warnings.items())
    ]
    detect_rows = [
        (symptom, _rate(done, total))
        for symptom, (done, total) in sorted(summary.detection.items())
    ]
    lines = [
        "# Calibration of the default thresholds",
        "",
        INTRO.strip(),
        "",
        "## Summary",
        "",
        f"* Zoo: {len(summary.rows)} cases ({len(healthy)} healthy, {len(broken)} "
        f"broken), seeds {summary.seeds[0]}..{summary.seeds[-1]}.",
        f"* {_headline(summary)}.",
        "",
        "### False alarms on healthy models (error findings, per symptom)",
        "",
        *_markdown_table(("symptom", "healthy runs with an error"), false_rows),
        "",
    ]
    if warn_rows:
        lines += [
            "Warnings (do not fail a test) on healthy runs:",
            "",
            *_markdown_table(("symptom", "healthy runs with a warning"), warn_rows),
            "",
        ]
    lines += [
        "### Detection rate per symptom (broken models expecting it)",
        "",
        *_markdown_table(("symptom", "runs detected"), detect_rows),
        "",
        "## Threshold margins",
        "",
        READING.strip(),
        "",
        *_margin_lines(summary.margins, markdown=True),
        "",
        "## Per-case results",
        "",
        *_markdown_table(CASE_HEADER, [_case_line(row) for row in summary.rows]),
        "",
        "Case notes:",
        "",
        *[
            f"* `{row.case.name}`: {row.case.notes}"
            for row in summary.rows
            if row.case.notes
        ],
        "",
        *_misses(summary.rows),
        NOTES.strip(),
        "",
        *_crashes(summary.rows),
        "## Reproduce",
        "",
        "```",
        f".venv/bin/{command}",
        "```",
        "",
        f"Measured {datetime.date.today().isoformat()} on {_machine()}; "
        f"{sum(r.runs for r in summary.rows)} checks in {wall:.0f} s wall.",
        "",
    ]
    return "\n".join(lines)


def _misses(rows: list[CaseRow]) -> list[str]:
    lines = ["## Misses and false alarms", ""]
    bad = [
        row
        for row in rows
        if (row.case.healthy and row.failed)
        or (not row.case.healthy and row.detected < row.runs)
        or (row.case.expected_module is not None and row.right_module < row.runs)
    ]
    for row in bad:
        if row.case.healthy:
            what = f"false alarm on {row.failed}/{row.runs} seeds: " + ", ".join(
                sorted(row.symptoms)
            )
        else:
            found = ", ".join(sorted(row.symptoms) + sorted(row.warnings)) or "nothing"
            what = (
                f"detected {row.detected}/{row.runs}, right module "
                f"{row.right_module}/{row.runs}; reported {found}"
            )
        lines.append(f"* `{row.case.name}`: {what}")
    if not bad:
        lines.append(
            "None: no healthy run raised an error finding, and every broken case "
            "showed all its expected symptoms, on the expected module, on every seed."
        )
    return lines + [""]


def _crashes(rows: list[CaseRow]) -> list[str]:
    crashed = [row for row in rows if row.crashed]
    if not crashed:
        return []
    lines = ["Runs where `check()` raised:", ""]
    for row in crashed:
        lines.append(f"* `{row.case.name}` ({row.crashed} runs): {row.errors[0]}")
    return lines + [""]


def _machine() -> str:
    import os

    import torch

    cpu = platform.processor() or platform.machine()
    return (
        f"{platform.system()} {platform.machine()} ({cpu}, {os.cpu_count()} cores), "
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        "one torch thread per worker"
    )
