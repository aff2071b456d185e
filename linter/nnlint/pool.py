"""Lint many files on all cores: a process pool over chunks of files.

Processes, not threads: libcst parsing holds the GIL. Small batches, largest files
first, keep both cores busy to the end; the pool is only started when there are enough
files for the start-up cost (~50 ms with fork) to pay off.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from nnlint.config import LintConfig
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
    from nnlint.api import lint_uncached

    jobs = default_jobs() if jobs is None else max(1, jobs)
    if jobs == 1 or len(files) < MIN_FILES_FOR_POOL:
        return lint_uncached(files, config)
    # Largest files first, in small batches: the pool then ends with small files and
    # both cores finish together (longest-processing-time-first scheduling).
    order = sorted(range(len(files)), key=lambda i: -_size(files[i]))
    batches = [order[start : start + BATCH] for start in range(0, len(order), BATCH)]
    context = multiprocessing.get_context(_start_method())
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_fewer_collections
    ) as executor:
        results = executor.map(
            lint_uncached,
            [[files[i] for i in batch] for batch in batches],
            [config] * len(batches),
        )
        ordered: list[list[Finding]] = [[] for _ in files]
        for batch, batch_results in zip(batches, results, strict=True):
            for index, findings in zip(batch, batch_results, strict=True):
                ordered[index] = findings
    return ordered


def _fewer_collections() -> None:
    """Collect cyclic garbage less often in a worker: parsing allocates millions of
    nodes, and at the default threshold the collector ran every 700 of them (6% of
    parse time, ``bench/parse_cost.py``). libcst trees hold no cycles, so reference
    counting frees them; what is left waits for a collection every 100,000
    allocations."""
    gc.freeze()  # the imported modules: never garbage, never scanned again
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
