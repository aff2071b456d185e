"""One clear message when torch is missing, instead of a bare ImportError traceback."""

from __future__ import annotations

from types import ModuleType

INSTALL_HINT = (
    "pytest-nnhealth's health checks and `nnlint --fx` need PyTorch, which is not "
    "installed. Install it first, e.g. `pip install torch` (CPU wheels: "
    "`pip install torch --index-url https://download.pytorch.org/whl/cpu`), "
    "or `pip install pytest-nnhealth[torch]`."
)


class TorchMissingError(ImportError):
    pass


def require_torch() -> ModuleType:
    try:
        import torch
    except ImportError as error:
        raise TorchMissingError(INSTALL_HINT) from error
    return torch
