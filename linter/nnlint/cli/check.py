"""``nnlint check``: lint, optionally fix, render, and choose the exit code."""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from nnlint.api import apply_policy, lint_paths, merge_graph_findings
from nnlint.cli.arguments import (
    UsageError,
    check_jobs_variable,
    default_paths,
    split_values,
)
from nnlint.engine.config import ConfigError, LintConfig, load_config, require_rules
from nnlint.engine.discovery import MissingPath, Skipped, discover
from nnlint.engine.sourcefile import (
    UndecodableSource,
    decode,
    read_source,
    split_lines,
    write_source,
)
from nnlint.findings import Finding
from nnlint.registry import known_codes


def run_check(
    options: argparse.Namespace, out: TextIO, *, width: int, color: bool
) -> int:
    if options.jobs is None:
        check_jobs_variable(os.environ)
    paths = default_paths(options.paths)
    config = _config(paths, options)
    skipped: Skipped = []
    try:
        files = discover(paths, skipped)
    except MissingPath as error:
        if "-" in options.paths:
            raise UsageError(
                "nnlint does not read source from standard input ('-'); pass files "
                "or directories"
            ) from None
        raise UsageError(str(error)) from None
    if not files:
        # A mistyped directory or a tree without Python files would otherwise pass
        # silently ("All checks passed."); exit 0 as ruff does.
        print("nnlint: warning: no Python file found to lint", file=sys.stderr)
    if options.diff:
        return _diff(files, config, options, out)
    cache = not options.no_cache
    unwritten = 0
    if options.fix:
        findings = lint_paths(files, config, cache=cache, jobs=options.jobs)
        unwritten = _fix(findings, config, options.unsafe_fixes)
    findings = lint_paths(
        files, config, cache=cache, jobs=options.jobs, skipped=skipped
    )
    _warn_skipped(skipped)
    if options.fx:
        findings = merge_graph_findings(findings, _graph_findings(paths, config))
    out.write(_render(findings, options.output_format, width=width, color=color))
    if options.statistics and options.output_format == "text":
        from nnlint.output.statistics import render_statistics

        out.write(render_statistics(findings))
    if unwritten:
        return 2  # a fix could not be written: the run did not do what was asked
    return 1 if findings and not options.exit_zero else 0


def _warn_skipped(skipped: Skipped) -> None:
    for path, reason in dict(skipped).items():
        print(f"nnlint: skipped {path}: {reason}", file=sys.stderr)


def _config(paths: Sequence[Path], options: argparse.Namespace) -> LintConfig:
    try:
        config = load_config(paths[0] if paths[0].exists() else Path.cwd())
        _check_known("[tool.nnlint]", _configured_selectors(config))
        given = {
            flag: split_values(getattr(options, flag.lstrip("-").replace("-", "_")))
            for flag in ("--select", "--extend-select", "--ignore")
        }
        overridden = config.with_overrides(
            select=given["--select"] or None,
            extend_select=given["--extend-select"],
            ignore=given["--ignore"],
        )  # checks the selectors' form first
        _check_known("", given)
        require_rules(overridden, known_codes(), graph_mode=options.fx)
        return overridden
    except ConfigError as error:
        raise UsageError(str(error)) from None


def _configured_selectors(config: LintConfig) -> dict[str, Sequence[str]]:
    selectors: dict[str, Sequence[str]] = {
        "select": config.select,
        "extend-select": config.extend_select,
        "ignore": config.ignore,
    }
    for pattern, codes in config.per_file_ignores:
        selectors[f"per-file-ignores '{pattern}'"] = codes
    return selectors


def _check_known(where: str, selectors: Mapping[str, Sequence[str]]) -> None:
    """A selector that matches no rule is a typo: running nothing and exiting 0
    would pass a CI gate that checks nothing."""
    known = known_codes()
    for key, values in selectors.items():
        for selector in values:
            upper = selector.strip().upper()
            if upper == "ALL" or any(code.startswith(upper) for code in known):
                continue
            place = f"{where} {key}" if where else key
            raise ConfigError(
                f"{place}: {selector!r} matches no rule (see 'nnlint rules')"
            )


def _fixable_paths(findings: Sequence[Finding], unsafe: bool) -> list[str]:
    paths: dict[str, None] = {}
    for finding in findings:
        if finding.fix is not None and (finding.fix.safe or unsafe):
            paths.setdefault(finding.path)
    return list(paths)


def _fix(findings: Sequence[Finding], config: LintConfig, unsafe: bool) -> int:
    """Apply fixes file by file; the number of files whose fixes were not written.

    A file that cannot be written (read-only, immutable, disk full, file-size limit)
    is left byte-identical (:func:`nnlint.engine.atomic_write.write_atomic`), named on
    stderr, and the remaining files are still fixed.
    """
    failed = 0
    for name in _fixable_paths(findings, unsafe):
        try:
            written = _fix_file(name, config, unsafe)
        except (OSError, UndecodableSource, UnicodeEncodeError) as error:
            written = False
            reason = getattr(error, "strerror", None) or str(error)
            print(
                f"nnlint: cannot write fixes to {name}: {reason}; "
                "the file is unchanged",
                file=sys.stderr,
            )
        failed += not written
    return failed


def _fix_file(name: str, config: LintConfig, unsafe: bool) -> bool:
    """Fix one file; False when the fixes were not written because the file changed
    meanwhile (an editor or formatter saved it: writing would lose that edit)."""
    from nnlint.engine.fixer import fix_text

    path = Path(name)
    data = path.read_bytes()
    source = decode(data)
    outcome = fix_text(source.text, name, config, unsafe=unsafe)
    for message in outcome.discarded:
        print(f"nnlint: {message}", file=sys.stderr)
    if not outcome.changed:
        return True
    if path.read_bytes() != data:
        print(
            f"nnlint: {name} changed while its fixes were computed; the fixes were "
            "not written (run nnlint --fix again)",
            file=sys.stderr,
        )
        return False
    write_source(path, source, outcome.fixed)
    return True


def _diff(
    files: Sequence[Path], config: LintConfig, options: argparse.Namespace, out: TextIO
) -> int:
    from nnlint.engine.fixer import fix_text

    findings = lint_paths(files, config, cache=not options.no_cache, jobs=options.jobs)
    changed = unread = 0
    for name in _fixable_paths(findings, options.unsafe_fixes):
        try:  # removed or rewritten since it was linted
            text = read_source(Path(name)).text
        except (OSError, UndecodableSource) as error:
            unread += 1
            reason = getattr(error, "strerror", None) or str(error)
            print(f"nnlint: cannot read {name} again: {reason}", file=sys.stderr)
            continue
        outcome = fix_text(text, name, config, unsafe=options.unsafe_fixes)
        for message in outcome.discarded:
            print(f"nnlint: {message}", file=sys.stderr)
        if outcome.changed:
            changed += 1
            out.writelines(
                difflib.unified_diff(
                    split_lines(text, keepends=True),
                    split_lines(outcome.fixed, keepends=True),
                    fromfile=f"a/{name}",
                    tofile=f"b/{name}",
                )
            )
    if unread:
        return 2
    return 1 if changed and not options.exit_zero else 0


def _graph_findings(paths: Sequence[Path], config: LintConfig) -> list[Finding]:
    if importlib.util.find_spec("torch") is None:
        raise UsageError("--fx (graph mode) needs torch: pip install torch")
    try:
        from nnlint.fx import run_graph
    except ImportError as error:
        raise UsageError(f"graph mode is not available: {error}") from None
    try:
        run = run_graph([str(path) for path in paths], config)
    except ConfigError as error:
        raise UsageError(str(error)) from None
    print(run.summary(), file=sys.stderr)
    return apply_policy(run.findings, config)


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
        from nnlint.cli.docsgen import catalogue_rules
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
