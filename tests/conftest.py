"""Shared test set-up.

torch is imported once here: pytester's in-process runs delete modules imported during a
run, and torch cannot be imported a second time in one process.
"""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("torch") is not None:
    import torch

    # Tiny models run faster single-threaded, and xdist already uses both cores.
    torch.set_num_threads(1)
