"""Public Python API: lint files and trees. Used by the CLI and the pytest plugin.

Every function here returns findings with suppression comments and the configuration
already applied; bad files become findings (NNL001 syntax error, NNL002 undecodable
file), never exceptions. Nothing here prints.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from nnlint.engine.cache import CACHE_DIR_NAME, FindingCache, entry_key
from nnlint.engine.config import LintConfig, load_config
from nnlint.engine.discovery import MissingPath, Skipped, discover
from nnlint.engine.noqa import (
    Suppressions,
    apply_suppressions,
    parse_suppressions,
    unused_codes,
)
from nnlint.engine.sourcefile import UndecodableSource, decode, read_source
from nnlint.findings import Finding, Fix

if TYPE_CHECKING:
    from nnlint.rules import Rule

# The rule modules (and libcst) are imported only when a file is actually linted: a
# run answered entirely from the cache never pays for them.
UNDECODABLE = ("NNL002", "undecodable-file", "the file cannot be decoded")
UNUSED_NOQA = ("NNL003", "unused-noqa", "unused suppression")

__all__ = [
    "InternalError",
    "LintConfig",
    "MissingPath",
    "apply_policy",
    "lint_file",
    "lint_paths",
    "lint_text",
    "selected_rules",
]


class InternalError(RuntimeError):
    """A rule or the engine failed on a file (a bug in nnlint, not in user code)."""


def all_rules() -> tuple[type[Rule], ...]:
    """The rule registry (imported on first use)."""
    from nnlint.rules import all_rules as registry

    return registry()


def selected_rules(config: LintConfig, path: str) -> list[type[Rule]]:
    """Source rules (engine-level ones included) that apply to ``path``."""
    return [rule for rule in all_rules() if config.applies(rule.CODE, path)]


def lint_text(data: bytes | str, path: str, config: LintConfig) -> list[Finding]:
    """Findings for one file's content (no cache). ``bytes`` are decoded like Python."""
    return analyse(data, path, config).findings


@dataclass
class Analysis:
    """What one lint pass over a file produced (the module only when it was parsed)."""

    findings: list[Finding]
    text: str | None = None
    suppressions: Suppressions | None = None


def analyse(data: bytes | str, path: str, config: LintConfig) -> Analysis:
    from nnlint.engine.lint_source import (
        check_source,
    )  # libcst import only when something is parsed

    rules = selected_rules(config, path)
    if isinstance(data, bytes):
        try:
            text = decode(data).text
        except UndecodableSource as error:
            return Analysis(_undecodable(path, error, config))
    else:
        text = data
    try:
        findings, _ = check_source(text, path, rules, prune=True)
    except Exception as error:  # noqa: BLE001 - a rule bug must name the file it hit
        raise InternalError(
            f"while linting {path}: {type(error).__name__}: {error}"
        ) from error
    findings = [f for f in findings if config.applies(f.code, path)]
    suppressions = parse_suppressions(text)
    kept = apply_suppressions(findings, suppressions)
    if config.applies(UNUSED_NOQA[0], path):
        kept += _unused_noqa(path, suppressions, rules, config)
    kept.sort(key=lambda finding: finding.sort_key)
    return Analysis(kept, text, suppressions)


def _undecodable(
    path: str, error: UndecodableSource, config: LintConfig
) -> list[Finding]:
    code, name, message = UNDECODABLE
    if not config.applies(code, path):
        return []
    line, column = error.line, error.column
    text = f"{message}: {error}"
    return [Finding(path, line, column, line, column + 1, code, name, text, "error")]


def _unused_noqa(
    path: str,
    suppressions: Suppressions,
    rules: Sequence[type[Rule]],
    config: LintConfig,
) -> list[Finding]:
    ran = [rule.CODE for rule in rules]
    known = {rule.CODE for rule in all_rules()}

    def is_checked(code: str) -> bool:
        if any(ran_code.startswith(code) for ran_code in ran):
            return True
        # An unknown source code (typo, removed rule) is unused too; graph codes are not
        # checked without --fx.
        return not code.startswith("NNL6") and not any(
            k.startswith(code) for k in known
        )

    code, name, message = UNUSED_NOQA
    findings = []
    for directive in suppressions.directives():
        unused = unused_codes(directive, is_checked)
        if unused:
            text = f"{message}: {', '.join(unused)}"
            line, column, end = directive.line, directive.column, directive.end_column
            where = (path, line, column, line, end)
            findings.append(Finding(*where, code, name, text, severity="warning"))
    return findings


def _light(finding: Finding) -> Finding:
    """The finding without its libcst nodes (cheap to pickle and to cache)."""
    if finding.fix is None or not finding.fix.replacements:
        return finding
    return replace(finding, fix=Fix(finding.fix.description, finding.fix.safe))


def cache_directory(config: LintConfig) -> Path:
    override = os.environ.get("NNLINT_CACHE_DIR")
    if override:
        return Path(override)
    root = config.root or Path.cwd()
    if os.access(root, os.W_OK):
        return root / CACHE_DIR_NAME
    # A read-only checkout: keep the cache in the user's cache directory instead.
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "nnlint" / entry_key(b"", str(root.resolve()), "root")[:16]


def lint_file(path: Path, config: LintConfig, *, cache: bool = True) -> list[Finding]:
    """Findings for one file, suppressions applied, cached unless ``cache=False``.

    Raises :class:`MissingPath` when the file does not exist.
    """
    store = FindingCache(cache_directory(config)) if cache else None
    return _lint_one(Path(path), config, store, config.fingerprint())


def _lint_one(
    path: Path, config: LintConfig, store: FindingCache | None, fingerprint: str
) -> list[Finding]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MissingPath(f"{path}: no such file or directory") from None
    except OSError:
        return []  # gone unreadable since it was listed: nothing to say about it
    name = str(path)
    key = entry_key(data, name, fingerprint) if store is not None else ""
    if store is not None:
        cached = store.get(key)
        if cached is not None:
            return cached
    findings = [_light(finding) for finding in lint_text(data, name, config)]
    if store is not None:
        store.put(key, findings)
    return findings


def lint_paths(
    paths: Iterable[Path | str],
    config: LintConfig,
    *,
    cache: bool = True,
    jobs: int | None = None,
    skipped: Skipped | None = None,
) -> list[Finding]:
    """Findings for every Python file under ``paths``, sorted by path and position.

    Cached files are answered in this process; the rest are linted in a process pool
    when there are enough of them (``jobs=1`` forces serial work). Raises
    :class:`MissingPath` for a path that does not exist. Entries that cannot be read
    are left out, and listed with the reason in ``skipped`` when it is given.
    """
    from nnlint.engine.pool import lint_many

    sink: Skipped = [] if skipped is None else skipped
    files = discover(paths, sink)
    store = FindingCache(cache_directory(config)) if cache else None
    fingerprint = config.fingerprint()
    findings: list[Finding] = []
    misses: list[tuple[Path, str]] = []
    for file in files:
        try:
            data = file.read_bytes()
        except OSError as error:
            sink.append((str(file), error.strerror or str(error)))
            continue
        key = entry_key(data, str(file), fingerprint) if store is not None else ""
        cached = store.get(key) if store is not None else None
        if cached is None:
            misses.append((file, key))
        else:
            findings.extend(cached)
    results = lint_many([file for file, _ in misses], config, jobs)
    for (_, key), result in zip(misses, results, strict=True):
        findings.extend(result)
        if store is not None:
            store.put(key, result)
    return sorted(findings, key=lambda finding: finding.sort_key)


def lint_uncached(files: Sequence[Path], config: LintConfig) -> list[list[Finding]]:
    """Serial worker body (also what each pool process runs on its chunk)."""
    return [_lint_one(file, config, None, "") for file in files]


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
