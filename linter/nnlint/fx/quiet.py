"""Silence torch's own diagnostics while graph mode runs user models on fake tensors.

``torch.export`` and fake-tensor dispatch log guard failures, tracebacks and whole
graphs at WARNING/ERROR level (and print some to stderr). Graph mode reports the cause
in one finding instead, so those messages would only bury it.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logging.disable(previous)
