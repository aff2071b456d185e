"""SARIF 2.1.0 output (GitHub code scanning and other SARIF viewers)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from nnlint import __version__
from nnlint.findings import Finding

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def _descriptor(rule: Any) -> dict[str, Any]:
    return {
        "id": rule.CODE,
        "name": rule.NAME,
        "shortDescription": {"text": rule.MESSAGE},
        "help": {"text": f"nnlint rule {rule.CODE} (docs/rules/{rule.CODE}.md)"},
        "defaultConfiguration": {"level": LEVEL.get(rule.SEVERITY, "warning")},
    }


def _uri(path: str) -> str:
    # A file name that is not UTF-8 reaches Python as surrogate escapes: percent-encode
    # its original bytes (RFC 3986 URIs are bytes), never fail on it.
    raw = PurePath(path).as_posix().encode("utf-8", "surrogateescape")
    return quote(raw, safe="/:")


def _result(finding: Finding, index: dict[str, int]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.code,
        "level": LEVEL.get(finding.severity, "warning"),
        "message": {"text": finding.message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": _uri(finding.path)},
                    "region": {
                        "startLine": max(finding.line, 1),
                        "startColumn": max(finding.column, 1),
                        "endLine": max(finding.end_line, finding.line, 1),
                        "endColumn": max(finding.end_column, 1),
                    },
                }
            }
        ],
    }
    if finding.code in index:
        result["ruleIndex"] = index[finding.code]
    return result


def render_sarif(findings: Sequence[Finding], rules: Sequence[Any]) -> str:
    """One run whose driver lists ``rules`` (classes with CODE/NAME/MESSAGE/...)."""
    descriptors = [_descriptor(rule) for rule in rules]
    index = {
        descriptor["id"]: position for position, descriptor in enumerate(descriptors)
    }
    log = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "nnlint",
                        "version": __version__,
                        "rules": descriptors,
                    }
                },
                "results": [_result(finding, index) for finding in findings],
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"
