"""Writing the session's files (reports, baseline); each returns the line to show."""

from __future__ import annotations

from pathlib import Path

from nnlint.engine.atomic_write import write_atomic
from pytest_nnhealth.reporting.runs import SessionRecords


def report(path: Path, records: SessionRecords) -> str:
    if path.suffix.lower() == ".html":
        from pytest_nnhealth.reporting.html_report import render_html

        text = render_html(records)
    else:
        from pytest_nnhealth.reporting.json_report import render_json

        text = render_json(records)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text.encode("utf-8"))
    count = len(records.models)
    return f"nnhealth: wrote {path} ({count} model{'' if count == 1 else 's'})"


def baseline(path: Path, records: SessionRecords) -> str:
    from pytest_nnhealth.plugin import baseline as baselines

    count = baselines.save(path, records.models)
    noun = "model" if count == 1 else "models"
    return f"nnhealth: saved the baseline of {count} {noun} to {path}"
