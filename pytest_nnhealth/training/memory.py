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
the process and costs ~25 ms a step on a 1-layer GPT-2.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from pytest_nnhealth.training.graph_bounds import Usage


@cache
def _malloc_trim() -> Any | None:
    """glibc's ``malloc_trim``, or None (macOS, Windows, musl: nothing to release)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
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
