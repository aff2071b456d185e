"""Public Python API: lint files and trees. Used by the CLI and the pytest plugin.

Every function here returns findings with suppression comments and the configuration
already applied; bad files become findings (NNL001 syntax error, NNL002 undecodable
file), never exceptions. Nothing here prints. The work is done below: one file in
:mod:`nnlint.engine.pipeline`, many in :mod:`nnlint.engine.pool`, graph findings'
policy in :mod:`nnlint.fx.policy`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from nnlint.engine.cache import FindingCache, entry_key
from nnlint.engine.config import LintConfig
from nnlint.engine.discovery import MissingPath, Skipped, discover
from nnlint.engine.pipeline import (
    InternalError,
    cache_directory,
    lint_text,
    lint_uncached,
    selected_rules,
)
from nnlint.engine.pipeline import lint_one as _lint_one
from nnlint.findings import Finding
from nnlint.fx.policy import apply_policy, graph_twins, merge_graph_findings

__all__ = [
    "InternalError",
    "LintConfig",
    "MissingPath",
    "apply_policy",
    "cache_directory",
    "graph_twins",
    "lint_file",
    "lint_paths",
    "lint_text",
    "lint_uncached",
    "merge_graph_findings",
    "selected_rules",
]


def lint_file(path: Path, config: LintConfig, *, cache: bool = True) -> list[Finding]:
    """Findings for one file, suppressions applied, cached unless ``cache=False``.

    Raises :class:`MissingPath` when the file does not exist.
    """
    store = FindingCache(cache_directory(config)) if cache else None
    return _lint_one(Path(path), config, store, config.fingerprint())


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
