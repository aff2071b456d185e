"""Resident memory of a ``check()``: freed heap pages handed back between steps, and
the peak measured for ``report.meta["peak_memory_mb"]``.

Why the release: on glibc, CPU tensors below malloc's mmap threshold (which rises to
32 MB as large blocks are freed) live on the heap, and freed heap memory stays
resident. The probes keep small tensors alive across steps (per-step statistics,
kept on the device until the end so that no step synchronises); allocated between a
step's activations, they split the holes the next step would reuse, so the heap grows
step after step. Measured on config-built GPT-2 base at 8 x 128 tokens
(``bench/check_memory.py``): the peak of the probed steps rose by ~150 MB a step, to
3.1 GB above the same 25 steps without probes (the caller guard's 475 MB apart), with
the same live tensors throughout; with ``MALLOC_MMAP_THRESHOLD_`` fixed, or
``malloc_trim`` after each step, it stays flat. ``malloc_trim(0)`` returns whole free
pages inside the heap to the system (``madvise``); it changes no allocation policy of
the process and costs ~25 ms a step on a 1-layer GPT-2. It runs only once the heap
has grown (``HeapRelease``).
"""

from __future__ import annotations

import ctypes
import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from pytest_nnhealth.training.graph_bounds import Usage, resident_mb


@cache
def _malloc_trim() -> Any | None:
    """glibc's ``malloc_trim``, or None (macOS, Windows, musl: nothing to release)."""
    try:
        # The process's own symbols include the C library's: no ldconfig subprocess
        # (ctypes.util.find_library) inside a user's test run.
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_free_heap() -> bool:
    """Hand the heap's free pages back to the system; False where there is no glibc
    heap to trim."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


class HeapRelease:
    """Releases the free heap after a step only once resident memory has grown past
    its level after the first step (which allocated everything a step needs: the
    optimizer state, the activations) by more than ``MARGIN`` of it, at least
    ``FLOOR_MB``. Where the heap does not grow (ResNet-50: the same level after every
    step), releasing anyway cost 70.0 against 63.8 CPU s for 25 steps (one run each,
    load 10-16), every page handed back being faulted in again by the next step;
    where it grows (GPT-2 base, ~150 MB a step) the release is what bounds it. The
    margin is above the step-to-step variation seen without growth (~3% on GPT-2
    base without probes)."""

    MARGIN = 0.10
    FLOOR_MB = 64.0

    def __init__(self) -> None:
        self.level_mb: float | None = None
        self.released = 0

    def after_step(self) -> None:
        now = resident_mb()
        if self.level_mb is None:
            self.level_mb = now
            return
        if now - self.level_mb > max(self.FLOOR_MB, self.MARGIN * self.level_mb):
            self.released += release_free_heap()


class PausedCollector:
    """Automatic garbage collection paused while a check runs, one young-generation
    collection after each training step.

    Why: the probes allocate Python objects on every sampled step (hook handles,
    closures, per-step records) and the graph step many more, the bare steps hardly
    any, and allocations trigger the cyclic collector, whose full collection walks
    every object of the process, not of the model: with torch and transformers or
    timm imported, 370-415k objects and 0.23-0.29 CPU s at load ~14, about every
    other ``check()`` (switch_transformers, BERT, mobilenetv3; docs/performance.md,
    probes24) where 25 bare steps of those models take 0.1-0.6 s. The check's objects
    die with it, by reference counting; the collection after each step still frees
    any cycle a step made (a caught exception's traceback) while it is young, so
    memory stays bounded. Nested pauses (check() around the runner) pause once; a
    caller that disabled the collector itself keeps it disabled and uncollected."""

    _depth = 0  # pauses of ours in progress (the collector is ours to collect)

    def __enter__(self) -> PausedCollector:
        outermost = PausedCollector._depth == 0
        self.owner = outermost and gc.isenabled()  # the one that pauses and resumes
        self.counted = self.owner or not outermost
        if self.owner:
            gc.disable()
        if self.counted:
            PausedCollector._depth += 1
        return self

    def after_step(self) -> None:
        if self.counted:
            gc.collect(0)

    def __exit__(self, *exc: object) -> None:
        if self.counted:
            PausedCollector._depth -= 1
            # Everything the block made is in the two young generations (only
            # generation 0 was collected meanwhile): collect both here, at a cost
            # proportional to the check's own objects, so the check's cyclic garbage
            # (traced graphs, the working copy's hook closures) is freed when it ends,
            # not by a full collection at some later allocation of the caller's.
            gc.collect(1)
        if self.owner:
            gc.enable()


@contextmanager
def peak_memory() -> Iterator[Usage]:
    """The block's resident memory at its start and its peak (MB): sampled every
    20 ms by a thread, and the kernel's high-water mark when the block sets a new
    process peak (what ``graph_bounds.Usage`` reads)."""
    usage = Usage()
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            usage.sample()

    sampler = threading.Thread(target=sample, name="nnhealth-memory", daemon=True)
    sampler.start()
    try:
        yield usage
    finally:
        done.set()
        sampler.join()
        usage.close()
