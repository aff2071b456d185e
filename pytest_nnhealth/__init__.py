"""pytest-nnhealth: health checks for PyTorch training dynamics.

Importing this package never imports torch (an installed pytest plugin loads in every
pytest run); the API below is resolved lazily on first use.

Layout: ``training/`` runs the seeded steps on a copy (``check()``, runner, inputs,
guards; torch), ``probes/`` measure one quantity each during those steps (torch),
``judge/`` turns finished records into findings (records, quantity names, thresholds,
hints; no torch), ``reporting/`` renders records (text, JSON, HTML), ``plugin/`` is the
pytest adapter (``plugin.hooks`` is the pytest11 entry point).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nnlint import __version__

if TYPE_CHECKING:
    from pytest_nnhealth.judge.records import HealthFinding, HealthReport, LayerStats
    from pytest_nnhealth.judge.thresholds import Thresholds
    from pytest_nnhealth.probes.routers import Router
    from pytest_nnhealth.training.graph_bounds import GraphLimits
    from pytest_nnhealth.training.health_check import check

__all__ = [
    "GraphLimits",
    "HealthFinding",
    "HealthReport",
    "LayerStats",
    "Router",
    "Thresholds",
    "__version__",
    "check",
]

_LAZY = {
    "check": "pytest_nnhealth.training.health_check",
    "GraphLimits": "pytest_nnhealth.training.graph_bounds",
    "HealthFinding": "pytest_nnhealth.judge.records",
    "HealthReport": "pytest_nnhealth.judge.records",
    "LayerStats": "pytest_nnhealth.judge.records",
    "Router": "pytest_nnhealth.probes.routers",
    "Thresholds": "pytest_nnhealth.judge.thresholds",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'pytest_nnhealth' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
