"""Lint many files on all cores: a process pool over chunks of files.

Processes, not threads: libcst parsing holds the GIL. Chunks amortise the pickling of
results and keep both cores busy to the end; the pool is only started when there are
enough files for the start-up cost (~50 ms with fork) to pay off.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from nnlint.config import LintConfig
from nnlint.findings import Finding

MIN_FILES_FOR_POOL = 24
CHUNKS_PER_WORKER = 6


def default_jobs() -> int:
    override = os.environ.get("NNLINT_JOBS", "")
    if override.isdigit() and int(override) > 0:
        return int(override)
    return max(1, min(os.cpu_count() or 1, 8))


def lint_many(
    files: Sequence[Path], config: LintConfig, jobs: int | None = None
) -> list[list[Finding]]:
    """Findings per file, in the order of ``files``."""
    from nnlint.api import lint_uncached

    jobs = default_jobs() if jobs is None else max(1, jobs)
    if jobs == 1 or len(files) < MIN_FILES_FOR_POOL:
        return lint_uncached(files, config)
    count = max(1, min(jobs * CHUNKS_PER_WORKER, len(files)))
    # Interleaved so big and small files from one directory spread across chunks.
    chunks = [list(files[start::count]) for start in range(count)]
    context = multiprocessing.get_context(_start_method())
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as executor:
        results = list(executor.map(lint_uncached, chunks, [config] * count))
    ordered: list[list[Finding]] = [[] for _ in files]
    for start, chunk_results in enumerate(results):
        for offset, findings in enumerate(chunk_results):
            ordered[start + offset * count] = findings
    return ordered


def _start_method() -> str:
    # fork shares the already-imported libcst and rules with the workers; it is the
    # default on Linux for this Python, and unavailable on Windows/macOS-spawn.
    methods = multiprocessing.get_all_start_methods()
    return "fork" if "fork" in methods and os.name == "posix" else "spawn"
