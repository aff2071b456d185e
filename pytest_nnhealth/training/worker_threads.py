"""One torch thread per pytest-xdist worker while a health check runs.

Under ``pytest -n N`` every worker would otherwise start as many OpenMP threads as there
are cores; their spin-waiting for busy cores made the examples' health checks 10-20x
slower here (137 s against 6.8 s for the same run on 2 cores).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def single_thread_under_xdist() -> Iterator[None]:
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
