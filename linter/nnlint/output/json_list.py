"""JSON output: a list of ``Finding.to_dict()`` objects (schema in DESIGN.md)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from nnlint.findings import Finding


def render_json(findings: Sequence[Finding]) -> str:
    return json.dumps([finding.to_dict() for finding in findings], indent=2) + "\n"
