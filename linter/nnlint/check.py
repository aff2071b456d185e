"""``nnlint check``: lint, optionally fix, render, and choose the exit code."""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from nnlint.api import apply_policy, lint_paths
from nnlint.cli import UsageError, default_paths
from nnlint.config import ConfigError, LintConfig, load_config
from nnlint.discovery import MissingPath, discover
from nnlint.findings import Finding
from nnlint.sourcefile import read_source, write_source


def run_check(
    options: argparse.Namespace, out: TextIO, *, width: int, color: bool
) -> int:
    paths = default_paths(options.paths)
    config = _config(paths, options)
    try:
        files = discover(paths)
    except MissingPath as error:
        raise UsageError(str(error)) from None
    if options.diff:
        return _diff(files, config, options, out)
    cache = not options.no_cache
    if options.fix:
        findings = lint_paths(files, config, cache=cache, jobs=options.jobs)
        _fix(findings, config, options.unsafe_fixes)
    findings = lint_paths(files, config, cache=cache, jobs=options.jobs)
    if options.fx:
        findings = sorted([*findings, *_graph_findings(paths, config)], key=_order)
    out.write(_render(findings, options.output_format, width=width, color=color))
    if options.statistics and options.output_format == "text":
        from nnlint.output.statistics import render_statistics

        out.write(render_statistics(findings))
    return 1 if findings and not options.exit_zero else 0


def _order(finding: Finding) -> tuple[str, int, int, str]:
    return finding.sort_key


def _config(paths: Sequence[Path], options: argparse.Namespace) -> LintConfig:
    from nnlint.cli import _split

    try:
        config = load_config(paths[0] if paths[0].exists() else Path.cwd())
        select = _split(options.select)
        return config.with_overrides(
            select=select or None,
            extend_select=_split(options.extend_select),
            ignore=_split(options.ignore),
        )
    except ConfigError as error:
        raise UsageError(str(error)) from None


def _fixable_paths(findings: Sequence[Finding], unsafe: bool) -> list[str]:
    paths: dict[str, None] = {}
    for finding in findings:
        if finding.fix is not None and (finding.fix.safe or unsafe):
            paths.setdefault(finding.path)
    return list(paths)


def _fix(findings: Sequence[Finding], config: LintConfig, unsafe: bool) -> None:
    from nnlint.fixer import fix_text

    for name in _fixable_paths(findings, unsafe):
        path = Path(name)
        source = read_source(path)
        outcome = fix_text(source.text, name, config, unsafe=unsafe)
        for message in outcome.discarded:
            print(f"nnlint: {message}", file=sys.stderr)
        if outcome.changed:
            write_source(path, source, outcome.fixed)


def _diff(
    files: Sequence[Path], config: LintConfig, options: argparse.Namespace, out: TextIO
) -> int:
    from nnlint.fixer import fix_text

    findings = lint_paths(files, config, cache=not options.no_cache, jobs=options.jobs)
    changed = 0
    for name in _fixable_paths(findings, options.unsafe_fixes):
        text = read_source(Path(name)).text
        outcome = fix_text(text, name, config, unsafe=options.unsafe_fixes)
        for message in outcome.discarded:
            print(f"nnlint: {message}", file=sys.stderr)
        if outcome.changed:
            changed += 1
            out.writelines(
                difflib.unified_diff(
                    text.splitlines(keepends=True),
                    outcome.fixed.splitlines(keepends=True),
                    fromfile=f"a/{name}",
                    tofile=f"b/{name}",
                )
            )
    return 1 if changed and not options.exit_zero else 0


def _graph_findings(paths: Sequence[Path], config: LintConfig) -> list[Finding]:
    if importlib.util.find_spec("torch") is None:
        raise UsageError("--fx (graph mode) needs torch: pip install torch")
    try:
        from nnlint.fx import run_graph_mode
    except ImportError as error:
        raise UsageError(f"graph mode is not available: {error}") from None
    try:
        found: list[Finding] = run_graph_mode([str(path) for path in paths], config)
    except ConfigError as error:
        raise UsageError(str(error)) from None
    return apply_policy(found, config)


def _render(
    findings: Sequence[Finding], output_format: str, *, width: int, color: bool
) -> str:
    if output_format == "json":
        from nnlint.output.json_list import render_json

        return render_json(findings)
    if output_format == "github":
        from nnlint.output.github import render_github

        return render_github(findings)
    if output_format == "sarif":
        from nnlint.docsgen import catalogue_rules
        from nnlint.output.sarif import render_sarif

        return render_sarif(findings, catalogue_rules())
    from nnlint.output.text import render_text

    return render_text(findings, sources=_sources(findings), width=width, color=color)


def _sources(findings: Sequence[Finding]) -> dict[str, str]:
    sources = {}
    for path in {finding.path for finding in findings}:
        try:
            sources[path] = Path(path).read_bytes().decode("utf-8", errors="replace")
        except OSError:
            continue
    return sources
