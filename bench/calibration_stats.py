"""Turn calibration runs (one record per case and seed) into rates and margins.

A run *detects* a symptom when ``check()`` reported a finding with that ``check`` at any
severity; a run *fails* when the report is not healthy (an error finding), which is what
fails a user's test. A false alarm is an error finding on a healthy model; warnings on
healthy models are counted separately. A finding names the right module when its
``module`` is the expected module or inside it (``net.0.weight`` is inside ``net.0``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from bench.calibration_margins import Margin, margins
from bench.zoo_build import ZooCase


@dataclass
class CaseRow:
    case: ZooCase
    runs: int = 0
    failed: int = 0
    detected: int = 0  # runs showing every expected symptom
    right_module: int = 0  # runs naming the expected module for an expected symptom
    crashed: int = 0
    symptoms: dict[str, int] = field(default_factory=dict)  # symptom -> runs (error)
    warnings: dict[str, int] = field(default_factory=dict)
    modules: dict[str, set[str]] = field(default_factory=dict)  # symptom -> modules
    seconds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class Summary:
    seeds: list[int]
    rows: list[CaseRow]
    healthy_runs: int
    false_alarm_runs: int
    false_alarms: dict[str, int]  # symptom -> healthy runs with that error finding
    healthy_warnings: dict[str, int]
    detection: dict[str, tuple[int, int]]  # symptom -> (detected runs, runs expecting)
    module_hits: tuple[int, int]  # (right-module runs, runs with an expected module)
    margins: list[Margin]


def in_module(found: str, expected: str) -> bool:
    return found == expected or found.startswith(expected + ".")


def _row(case: ZooCase, records: list[dict[str, Any]]) -> CaseRow:
    row = CaseRow(case)
    for record in records:
        row.runs += 1
        row.seconds.append(record["seconds"])
        if record["error"]:
            row.crashed += 1
            row.errors.append(record["error"])
        row.failed += not record["passed"]
        found: dict[str, list[str]] = defaultdict(list)
        for finding in record["findings"]:
            found[finding["check"]].append(finding["module"])
            row.modules.setdefault(finding["check"], set()).add(finding["module"])
        if case.expected and case.expected <= set(found):
            row.detected += 1
        if case.expected_module is not None and any(
            in_module(module, case.expected_module)
            for symptom in case.expected
            for module in found.get(symptom, [])
        ):
            row.right_module += 1
    row.symptoms = _runs_with(records, "error")
    row.warnings = _runs_with(records, "warning")
    return row


def _runs_with(records: list[dict[str, Any]], severity: str) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for record in records:
        for symptom in {
            f["check"] for f in record["findings"] if f["severity"] == severity
        }:
            counts[symptom] += 1
    return dict(counts)


def summarise(
    records: list[dict[str, Any]], cases: list[ZooCase], seeds: list[int]
) -> Summary:
    by_case: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_case[record["case"]].append(record)
    rows = [_row(case, by_case[case.name]) for case in cases]
    healthy = [row for row in rows if row.case.healthy]
    false_alarms: dict[str, int] = defaultdict(int)
    warnings: dict[str, int] = defaultdict(int)
    for row in healthy:
        for symptom, count in row.symptoms.items():
            false_alarms[symptom] += count
        for symptom, count in row.warnings.items():
            warnings[symptom] += count
    detection: dict[str, tuple[int, int]] = {}
    for row in rows:
        if row.case.healthy:
            continue
        for symptom in sorted(row.case.expected):
            hits = _runs_detecting(by_case[row.case.name], symptom)
            done, total = detection.get(symptom, (0, 0))
            detection[symptom] = (done + hits, total + row.runs)
    with_module = [row for row in rows if row.case.expected_module is not None]
    return Summary(
        seeds=seeds,
        rows=rows,
        healthy_runs=sum(row.runs for row in healthy),
        false_alarm_runs=sum(row.failed for row in healthy),
        false_alarms=dict(false_alarms),
        healthy_warnings=dict(warnings),
        detection=detection,
        module_hits=(
            sum(row.right_module for row in with_module),
            sum(row.runs for row in with_module),
        ),
        margins=margins(records, cases),
    )


def _runs_detecting(records: list[dict[str, Any]], symptom: str) -> int:
    return sum(any(f["check"] == symptom for f in r["findings"]) for r in records)
