"""Probe hooks that a probe's ``TorchFunctionMode`` does not see.

The attention probe watches the model's own tensor calls for softmax and SDPA with a
``TorchFunctionMode`` (the whole forward on its first statistics step, the attention
modules afterwards). Every call the mode sees costs a Python call, and the other
probes' forward hooks run inside that window: their reductions (a dozen calls per
module on a deep step) were seen too, and none of them is a softmax or an SDPA. A
hook wrapped by ``unseen`` runs with the probe's mode popped when it is the innermost
mode; a mode of the user's, or none, is left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch.overrides import TorchFunctionMode

try:  # private helpers (torch 2.x); without them hooks simply stay visible to the mode
    from torch.overrides import _get_current_function_mode, _pop_mode_temporarily

    _MODE_STACK_READABLE = hasattr(torch._C, "_is_torch_function_mode_enabled")
except ImportError:  # pragma: no cover - depends on the installed torch
    _MODE_STACK_READABLE = False

F = TypeVar("F", bound=Callable[..., Any])


class ProbeMode(TorchFunctionMode):
    """A probe's mode: ``unseen`` hooks run without it."""


def unseen(hook: F) -> F:
    if not _MODE_STACK_READABLE:  # pragma: no cover - depends on the installed torch
        return hook  # the same numbers, only slower: the mode sees the hook's calls

    def wrapper(*args: Any) -> Any:
        if torch._C._is_torch_function_mode_enabled() and isinstance(
            _get_current_function_mode(), ProbeMode
        ):
            with _pop_mode_temporarily():
                return hook(*args)
        return hook(*args)

    return wrapper  # type: ignore[return-value]
