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
    when that source rule reported the same file and line: the source finding is the
    one kept, because it has exact columns and any fix, and is the same finding with
    or without ``--fx`` (so baselines and ``# noqa`` comments stay valid)."""
    source = list(source)
    seen = {(_same_file(f.path), f.line, f.code) for f in source}
    kept = [
        finding
        for finding in graph
        if not any(
            (_same_file(finding.path), finding.line, twin) in seen
            for twin in graph_twins(finding.code)
        )
    ]
    return sorted([*source, *kept], key=lambda finding: finding.sort_key)


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
    kept: list[Finding] = []
    for path, group in by_path.items():
        policy = config if config is not None else _config_for(Path(path), configs)
        selected = [f for f in group if policy.applies(f.code, path)]
        kept.extend(_unsuppressed(Path(path), selected))
    return sorted(kept, key=lambda finding: finding.sort_key)


def _config_for(path: Path, cache: dict[Path, LintConfig]) -> LintConfig:
    directory = path.parent if path.is_file() else Path.cwd()
    if directory not in cache:
        cache[directory] = load_config(directory)
    return cache[directory]


def _unsuppressed(path: Path, findings: list[Finding]) -> list[Finding]:
    """``findings`` of one file without those its ``# noqa`` comments silence (a file
    that cannot be read silences nothing)."""
    if not findings:
        return []
    try:
        text = read_source(path).text
    except (OSError, UndecodableSource):
        return findings
    suppressions = parse_suppressions(text)
    # A ``# noqa`` for a source rule also silences its graph twin (one defect).
    return [
        finding
        for finding in apply_suppressions(findings, suppressions)
        if not _twin_suppressed(finding, suppressions)
    ]


def _twin_suppressed(finding: Finding, suppressions: Suppressions) -> bool:
    twins = [replace(finding, code=code) for code in graph_twins(finding.code)]
    return len(apply_suppressions(twins, suppressions)) < len(twins)
