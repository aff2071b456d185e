"""Lint many files on all cores: a process pool over chunks of files.

Processes, not threads: libcst parsing holds the GIL. Small batches, largest files
first, keep both cores busy to the end; the pool is only started when there are enough
files for the start-up cost (~50 ms with fork) to pay off.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from nnlint.engine.config import LintConfig
from nnlint.findings import Finding

MIN_FILES_FOR_POOL = 24
BATCH = 4


def default_jobs() -> int:
    override = os.environ.get("NNLINT_JOBS", "")
    if override.isdigit() and int(override) > 0:
        return int(override)
    return max(1, min(os.cpu_count() or 1, 8))


def lint_many(
    files: Sequence[Path], config: LintConfig, jobs: int | None = None
) -> list[list[Finding]]:
    """Findings per file, in the order of ``files``."""
    from nnlint.engine.pipeline import lint_uncached

    jobs = default_jobs() if jobs is None else max(1, jobs)
    if jobs == 1 or len(files) < MIN_FILES_FOR_POOL:
        return lint_uncached(files, config)
    # Largest files first, in small batches: the pool then ends with small files and
    # both cores finish together (longest-processing-time-first scheduling).
    order = sorted(range(len(files)), key=lambda i: -_size(files[i]))
    batches = [order[start : start + BATCH] for start in range(0, len(order), BATCH)]
    ordered: list[list[Finding] | None] = [None] * len(files)
    try:
        _pooled(files, config, jobs, batches, ordered)
    except BrokenProcessPool:
        # A worker died (a crash in native code) and took its pool down. Retry the
        # unfinished files one per task in a fresh pool, which saves every file
        # finished before the culprit is reached again; what is left after that
        # runs one process per file, so the culprit is named and the rest linted.
        pending = [[i] for i, result in enumerate(ordered) if result is None]
        with contextlib.suppress(BrokenProcessPool):
            _pooled(files, config, jobs, pending, ordered)
    for index, result in enumerate(ordered):
        if result is None:
            ordered[index] = _isolated(files[index], config)
    return [result or [] for result in ordered]


def _pooled(
    files: Sequence[Path],
    config: LintConfig,
    jobs: int,
    batches: list[list[int]],
    ordered: list[list[Finding] | None],
) -> None:
    """Fill ``ordered`` with each batch's findings as batches complete."""
    from nnlint.engine.pipeline import lint_uncached

    method = _start_method()
    if method == "fork":
        _warm_up()
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_fewer_collections
    ) as executor:
        futures = {
            executor.submit(lint_uncached, [files[i] for i in batch], config): batch
            for batch in batches
        }
        for future in as_completed(futures):
            for index, findings in zip(futures[future], future.result(), strict=True):
                ordered[index] = findings


def _isolated(file: Path, config: LintConfig) -> list[Finding]:
    """Findings for one file in a process of its own, after a worker died.

    If this process dies too, the file is what killed it: it gets one NNL004
    finding naming the crash, and the run goes on.
    """
    from nnlint.engine.pipeline import lint_uncached

    context = multiprocessing.get_context(_start_method())
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as executor:
        try:
            return executor.submit(lint_uncached, [file], config).result()[0]
        except BrokenProcessPool:
            from nnlint.rules.nnl004_too_complex_to_lint import TooComplexToLint

            reason = "the linter's worker process crashed on it (a parser bug)"
            return [TooComplexToLint.finding(str(file), 1, reason)]


def _warm_up() -> None:
    """Import the linting code and fill its per-class tables once, in the parent,
    before forking: every worker then starts with them (copy-on-write) instead of
    paying for the same imports and tables again."""
    from nnlint.engine.lint_source import warm_up

    warm_up()


def _fewer_collections() -> None:
    """Keep the imported modules out of every later collection (they are never
    garbage), and make automatic collections rare for what runs outside
    :func:`nnlint.engine.pipeline.lint_uncached`, which collects after each file."""
    gc.freeze()
    gc.set_threshold(100_000, 20, 20)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _start_method() -> str:
    # fork shares the already-imported libcst and rules with the workers; it is the
    # default on Linux for this Python, and unavailable on Windows/macOS-spawn.
    methods = multiprocessing.get_all_start_methods()
    return "fork" if "fork" in methods and os.name == "posix" else "spawn"
