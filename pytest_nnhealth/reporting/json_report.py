"""The ``--nnhealth-report=PATH.json`` document: a pure function of the session records.

Strict JSON (what ``jq`` and browsers accept): a non-finite measurement, which is a
legitimate result (a diverged loss), is written as the string ``"NaN"``, ``"Infinity"``
or ``"-Infinity"``. Nothing time- or machine-dependent is written, so a serial run and a
pytest-xdist run of the same tests produce the same file.
"""

from __future__ import annotations

import json
import math
from typing import Any

from nnlint import __version__
from pytest_nnhealth.reporting.runs import SessionRecords

FORMAT_VERSION = 1


def report_document(records: SessionRecords) -> dict[str, Any]:
    verdicts: dict[str, int] = {}
    for run in records.models:
        verdicts[run.verdict] = verdicts.get(run.verdict, 0) + 1
    return {
        "format": FORMAT_VERSION,
        "tool": "pytest-nnhealth",
        "version": __version__,
        "summary": {
            "models": len(records.models),
            "verdicts": dict(sorted(verdicts.items())),
            "lint_files": len(records.lint),
            "lint_findings": sum(len(run.findings) for run in records.lint),
        },
        "models": [run.to_dict() for run in records.models],
        "lint": [run.to_dict() for run in records.lint],
    }


def render_json(records: SessionRecords) -> str:
    document = _finite(report_document(records))
    return json.dumps(document, indent=1, allow_nan=False) + "\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value):
            return "NaN"
        return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
