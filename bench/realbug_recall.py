"""Recall of nnlint on bugs reproduced from public reports, and false alarms on
near-misses (correct code that looks like a bug).

    .venv/bin/python bench/realbug_recall.py [--table]

The cases live in ``tests/realbugs/``: ``bugs/`` holds one reproduced bug per file,
``clean/`` the near-misses. Each file starts with a comment header::

    # Source: <public URL of the report>
    # Bug: <what is wrong>            (Near-miss: <why it is correct> in clean/)
    # Kind: <catalogue kind>
    # Graph: <factory>                optional: a function returning a model for --fx
    # Source-miss: <reason>           optional: the source rules cannot find it
    # Graph-miss: <reason>            optional: graph mode cannot find it either
    # Known-false-alarm: <reason>     optional (clean/): a finding nnlint still makes

and marks the line each mode must report with ``# expect: NNL101`` (source rules)
and ``# expect-fx: NNL610`` (graph rules). A bug counts as found in source mode when
a source finding has an expected code on a marked line; in graph(+source) mode when
it is found in source mode or a graph finding has an expected ``expect-fx`` code on
its line. A near-miss is a false alarm when any error or warning finding is reported.

Graph mode imports the file and calls its factory in this process (the file defines
only classes and functions), then runs ``nnlint.fx.analyze_model`` on the result.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnlint.api import lint_text
from nnlint.engine.config import LintConfig
from nnlint.findings import Finding

ROOT = Path(__file__).resolve().parent.parent / "tests" / "realbugs"
_HEADER = re.compile(
    r"^# (Source|Bug|Near-miss|Kind|Graph|Source-miss|Graph-miss|Known-false-alarm)"
    r": ?(.*)"
)
_MARK = re.compile(r"\bexpect(-fx)?: (NNL\d{3})")


@dataclass
class Case:
    """One reproduced report: where it came from and what each mode must find."""

    path: Path
    header: dict[str, str] = field(default_factory=dict)
    source: set[tuple[str, int]] = field(default_factory=set)
    graph: set[tuple[str, int]] = field(default_factory=set)

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def url(self) -> str:
        return self.header.get("Source", "")

    @property
    def kind(self) -> str:
        return self.header.get("Kind", "near-miss")

    @property
    def factory(self) -> str | None:
        return self.header.get("Graph") or None


def parse(path: Path) -> Case:
    case = Case(path)
    key = None
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            key = header.group(1)
            case.header[key] = header.group(2).strip()
        elif key and line.startswith("#   "):  # a wrapped header line
            case.header[key] += " " + line[4:].strip()
        else:
            key = None
        comment = line.partition("#")[2]
        for fx, code in _MARK.findall(comment):
            (case.graph if fx else case.source).add((code, number))
    return case


def cases(kind: str) -> list[Case]:
    """The cases of ``bugs`` or ``clean``, sorted by file name."""
    return [parse(p) for p in sorted((ROOT / kind).glob("*.py"))]


def source_findings(case: Case) -> list[Finding]:
    return lint_text(case.path.read_bytes(), str(case.path), LintConfig())


def graph_findings(case: Case) -> list[Finding]:
    """Graph-rule findings for the model the case's factory builds (torch needed)."""
    from nnlint.fx import analyze_model
    from nnlint.fx.discovery import unpack

    module = _import(case.path)
    model, inputs, loss = unpack(getattr(module, str(case.factory))(), case.name)
    return analyze_model(model, inputs, loss)


def _import(path: Path) -> Any:
    name = f"realbug_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def hits(expected: set[tuple[str, int]], findings: Iterable[Finding]) -> bool:
    """Some finding has an expected code on its marked line."""
    return any((f.code, f.line) in expected for f in findings)


def alarms(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity in ("error", "warning")]


@dataclass
class Result:
    case: Case
    source: bool
    graph: bool | None  # None: no factory, graph mode not run


def measure(case: Case) -> Result:
    in_source = hits(case.source, source_findings(case))
    if case.factory is None:
        return Result(case, in_source, None)
    return Result(case, in_source, in_source or hits(case.graph, graph_findings(case)))


def _percent(part: int, whole: int) -> str:
    return f"{part}/{whole} = {100 * part / whole:.1f}%" if whole else "n/a"


def report(results: list[Result], false_alarms: list[tuple[Case, Finding]]) -> str:
    total = len(results)
    source = sum(r.source for r in results)
    graph = sum(bool(r.source or r.graph) for r in results)
    near = len(cases("clean"))
    lines = [
        f"bugs: {total}, near-misses: {near}",
        f"source recall: {_percent(source, total)}",
        f"graph(+source) recall: {_percent(graph, total)}",
        f"near-miss false alarms: {len(false_alarms)}",
    ]
    lines += [f"  {c.name}:{f.line} {f.code} {f.message}" for c, f in false_alarms]
    return "\n".join(lines)


def table(results: list[Result]) -> str:
    rows = [
        "| bug | source | kind | source mode | graph mode |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        graph = "-" if r.graph is None else ("found" if r.graph else "missed")
        found = "found" if r.source else "missed"
        rows.append(
            f"| `{r.case.name}` | <{r.case.url}> | {r.case.kind} | {found} | {graph} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", action="store_true", help="print the docs table")
    args = parser.parse_args(argv)
    results = [measure(c) for c in cases("bugs")]
    false_alarms = []
    for case in cases("clean"):
        findings = source_findings(case)
        if case.factory:
            findings += graph_findings(case)
        false_alarms += [(case, f) for f in alarms(findings)]
    if args.table:
        print(table(results))
    print(report(results, false_alarms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
