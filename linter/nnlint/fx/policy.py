"""Graph findings under the source policy: twins merged, selection, ``# noqa``.

Graph rules (and ``check()``) make findings outside the source engine; these functions
give them the same project policy as source findings, and report a defect found by
both a source rule and its graph twin (``GraphRule.DUPLICATES``) once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from nnlint.engine.config import LintConfig, load_config
from nnlint.engine.noqa import Suppressions, apply_suppressions, parse_suppressions
from nnlint.engine.sourcefile import UndecodableSource, read_source
from nnlint.findings import Finding


def graph_twins(code: str) -> tuple[str, ...]:
    """Source codes that report the same defect as graph rule ``code``
    (``GraphRule.DUPLICATES``; empty for source codes and unknown codes)."""
    from nnlint.fx.rules import graph_rule_by_code

    rule = graph_rule_by_code(code) if code.startswith("NNL6") else None
    return () if rule is None else rule.DUPLICATES


def merge_graph_findings(
    source: Iterable[Finding], graph: Iterable[Finding]
) -> list[Finding]:
    """Source and graph findings in one sorted list, each defect reported once.

    A graph finding whose rule duplicates a source rule (``DUPLICATES``) is dropped
    when that source rule reported the same defect: the same call (the graph finding's
    line lies in the source finding's span) or the same module (the source finding
    lies where the graph finding's module was constructed, ``Finding.about``). The
    source finding is the one kept, because it has exact columns and any fix, and is
    the same finding with or without ``--fx`` (so baselines and ``# noqa`` comments
    stay valid)."""
    source = list(source)
    by_code: dict[str, list[Finding]] = {}
    for finding in source:
        by_code.setdefault(finding.code, []).append(finding)
    kept = [
        finding
        for finding in graph
        if not any(
            _same_defect(finding, twin)
            for code in graph_twins(finding.code)
            for twin in by_code.get(code, ())
        )
    ]
    return sorted([*source, *kept], key=lambda finding: finding.sort_key)


def _same_defect(graph: Finding, source: Finding) -> bool:
    where = _same_file(source.path)
    if _same_file(graph.path) == where:
        if source.line <= graph.line <= max(source.line, source.end_line):
            return True
    return any(
        first <= source.line <= last and _same_file(path) == where
        for path, first, last in graph.about
    )


def _same_file(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


def apply_policy(
    findings: Iterable[Finding], config: LintConfig | None = None
) -> list[Finding]:
    """``findings`` made outside the source engine (graph mode, ``check()``) with the
    project's policy applied as for source findings: selection (select/ignore),
    per-file-ignores, and ``# noqa`` comments of the file each finding points at.

    With ``config=None`` each finding is judged by the configuration of the nearest
    ``pyproject.toml`` above its file (above the working directory for findings with
    no file, such as ``<Sequential>``). Raises ``ConfigError`` for a broken
    configuration, like every other entry point.
    """
    by_path: dict[str, list[Finding]] = {}
    for finding in findings:
        by_path.setdefault(finding.path, []).append(finding)
    configs: dict[Path, LintConfig] = {}
    files: _Files = {}
    kept: list[Finding] = []
    for path, group in by_path.items():
        policy = config if config is not None else _config_for(Path(path), configs)
        selected = [f for f in group if policy.applies(f.code, path)]
        kept.extend(_unsuppressed(Path(path), selected, files))
    return sorted(kept, key=lambda finding: finding.sort_key)


def _config_for(path: Path, cache: dict[Path, LintConfig]) -> LintConfig:
    directory = path.parent if path.is_file() else Path.cwd()
    if directory not in cache:
        cache[directory] = load_config(directory)
    return cache[directory]


def _unsuppressed(path: Path, findings: list[Finding], files: _Files) -> list[Finding]:
    """``findings`` of one file without those its ``# noqa`` comments silence (a file
    that cannot be read silences nothing)."""
    if not findings:
        return []
    suppressions = _suppressions(str(path), files)
    if suppressions is not None:
        findings = apply_suppressions(findings, suppressions)
    # A suppression of a source rule also silences its graph twin (one defect), on the
    # graph finding's line or where its module was constructed.
    return [finding for finding in findings if not _twin_suppressed(finding, files)]


def _twin_suppressed(finding: Finding, files: _Files) -> bool:
    places = [(finding.path, finding.line)]
    places += [
        (path, line)
        for path, first, last in finding.about
        for line in range(first, last + 1)
    ]
    for path, line in places:
        suppressions = _suppressions(path, files)
        if suppressions is None:
            continue
        twins = [
            replace(finding, path=path, line=line, code=code)
            for code in graph_twins(finding.code)
        ]
        if len(apply_suppressions(twins, suppressions)) < len(twins):
            return True
    return False


# Suppressions of each file read during one apply_policy call (None: unreadable).
_Files = dict[str, Suppressions | None]


def _suppressions(path: str, files: _Files) -> Suppressions | None:
    if path not in files:
        try:
            files[path] = parse_suppressions(read_source(Path(path)).text)
        except (OSError, UndecodableSource):
            files[path] = None
    return files[path]
