"""Human-readable output: each finding with its source line and the span underlined.

Rendered through rich into a string at a fixed width, so it is a pure function of its
arguments (the CLI decides where the string goes and whether it is coloured).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich.console import Console
from rich.text import Text

from nnlint.engine.sourcefile import split_lines
from nnlint.findings import Finding

SEVERITY_STYLE = {"error": "bold red", "warning": "bold yellow", "info": "bold blue"}


def render_text(
    findings: Sequence[Finding],
    *,
    sources: dict[str, str] | None = None,
    width: int = 100,
    color: bool = False,
    summary: bool = True,
) -> str:
    """Every finding as a header line plus, when its source is given, the marked line.

    ``sources`` maps a finding's ``path`` to the file's text. Ends with a count line
    unless ``summary=False``.
    """
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        color_system="standard" if color else None,
        highlight=False,
        emoji=False,
        markup=False,
        legacy_windows=False,
    )
    lines_of: dict[str, list[str]] = {}
    for finding in findings:
        # The message is never cut: a header longer than the width runs on, as in ruff.
        console.print(_header(finding), soft_wrap=True)
        source = (sources or {}).get(finding.path)
        if source is not None:
            lines = lines_of.setdefault(finding.path, split_lines(source))
            for part in _snippet(finding, lines):
                console.print(part, no_wrap=True, overflow="crop", crop=True)
    if summary:
        console.print(Text(summary_line(findings), style="bold"))
    return buffer.getvalue()


def _header(finding: Finding) -> Text:
    text = Text()
    text.append(f"{finding.path}:{finding.line}:{finding.column}: ", style="bold")
    text.append(finding.code, style=SEVERITY_STYLE.get(finding.severity, "bold"))
    if finding.fix is not None and finding.fix.safe:
        text.append(" [*]", style="cyan")
    text.append(f" {finding.message}")
    return text


def _snippet(finding: Finding, lines: list[str]) -> list[Text]:
    if not 1 <= finding.line <= len(lines):
        return []
    # Tabs shown as one space keep the marker under the right characters.
    line = lines[finding.line - 1].replace("\t", " ")
    start = min(max(finding.column - 1, 0), len(line))
    end = finding.end_column - 1 if finding.end_line == finding.line else len(line)
    end = max(min(end, len(line)), start + 1)
    gutter = str(finding.line)
    pad = " " * len(gutter)
    source = Text(f"{gutter} | ", style="blue")
    source.append(line)
    marker = Text(f"{pad} | ", style="blue")
    marker.append(" " * start)
    style = SEVERITY_STYLE.get(finding.severity, "bold")
    marker.append("^" * (end - start) + f" {finding.name}", style=style)
    return [source, marker]


def summary_line(findings: Sequence[Finding]) -> str:
    if not findings:
        return "All checks passed."
    fixable = sum(1 for f in findings if f.fix is not None and f.fix.safe)
    noun = "finding" if len(findings) == 1 else "findings"
    line = f"Found {len(findings)} {noun}."
    if fixable:
        line += f" {fixable} fixable with --fix."
    return line
