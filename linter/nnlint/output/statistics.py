"""``--statistics``: how often each code occurred, most frequent first."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from nnlint.findings import Finding


def _marker(fixable: bool) -> str:
    return "[*] " if fixable else "    "


def render_statistics(findings: Sequence[Finding]) -> str:
    counts = Counter(f.code for f in findings)
    names = {f.code: f.name for f in findings}
    fixable = {f.code for f in findings if f.fix is not None and f.fix.safe}
    if not counts:
        return ""
    width = len(str(max(counts.values())))
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return "".join(
        f"{count:>{width}}\t{code}\t{_marker(code in fixable)}{names[code]}\n"
        for code, count in rows
    )
