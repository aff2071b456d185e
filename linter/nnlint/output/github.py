"""GitHub Actions workflow commands: findings become annotations on the pull request."""

from __future__ import annotations

from collections.abc import Sequence

from nnlint.findings import Finding

LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def render_github(findings: Sequence[Finding]) -> str:
    lines = []
    for f in findings:
        properties = ",".join(
            [
                f"file={_escape_property(f.path)}",
                f"line={f.line}",
                f"col={f.column}",
                f"endLine={f.end_line}",
                f"endColumn={f.end_column}",
                f"title={_escape_property(f.code)}",
            ]
        )
        level = LEVEL.get(f.severity, "error")
        lines.append(f"::{level} {properties}::{_escape_data(f.message)}")
    return "".join(line + "\n" for line in lines)
