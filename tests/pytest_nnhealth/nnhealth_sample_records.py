"""Hand-built health records for renderer, baseline and report tests (no torch).

The series follow what check() records (``act_std``, ``grad_norm``, ``update_ratio``,
``dead_fraction``, ``act_hist``/``grad_hist``), with values chosen to be recognisable.
"""

from __future__ import annotations

import math

from pytest_nnhealth.judge.records import (
    HealthFinding,
    HealthReport,
    Histogram,
    LayerStats,
)
from pytest_nnhealth.reporting.runs import LintRun, ModelRun, SessionRecords

THRESHOLDS = {
    "update_ratio_min": 1e-6,
    "update_ratio_max": 0.5,
    "dead_fraction_max": 0.4,
}


def layer(name: str, kind: str, scale: float, steps: int = 6) -> LayerStats:
    """A layer whose statistics drift smoothly with ``scale``."""
    series: dict[str, list[float | None]] = {
        "act_std": [scale * (1 + 0.05 * step) for step in range(steps)],
        "grad_norm": [scale * 0.1 / (1 + step) for step in range(steps)],
        "update_ratio": [None, *[1e-2 * scale for _ in range(steps - 1)]],
    }
    if kind == "ReLU":
        series["dead_fraction"] = [0.1 * scale for _ in range(steps)]
    edges = [-2.0 + 0.5 * i for i in range(9)]
    counts = [[float((i + step) % 5) for i in range(8)] for step in range(steps)]
    histograms = {
        "act_hist": Histogram(edges, counts),
        "grad_hist": Histogram(edges, counts),
    }
    return LayerStats(name, kind, series, histograms)


def healthy_report(model: str = "SmallNet", scale: float = 1.0) -> HealthReport:
    layers = {
        "fc1": layer("fc1", "Linear", scale),
        "act": layer("act", "ReLU", scale),
        "fc2": layer("fc2", "Linear", scale * 0.5),
    }
    losses = [2.3 - 0.1 * step for step in range(6)]
    return HealthReport(model, [], layers, losses, 6, [0], dict(THRESHOLDS), {})


def dead_relu_report(model: str = "DeadNet") -> HealthReport:
    report = healthy_report(model)
    report.layers["act"].series["dead_fraction"] = [0.9] * 6
    report.findings = [
        HealthFinding(
            "dead_units",
            "act",
            0.9,
            "< 0.40",
            1,
            "dead_units in `act` (ReLU): 0.90 of units dead from step 1",
            "lower lr, use LeakyReLU/GELU, or add normalisation",
        ),
        HealthFinding(
            "no_learning",
            "",
            0.001,
            "drop >= 1%",
            None,
            "no_learning in the model: held-batch loss 2.30 -> 2.30",
            "check the loss wiring",
        ),
    ]
    report.losses = [2.3, 2.3, 2.3, math.nan, 2.3, 2.3]
    return report


def with_attention(report: HealthReport) -> HealthReport:
    report.layers["attn"] = attention_layer()
    return report


def attention_layer() -> LayerStats:
    """Two heads measured on sampled steps 0, 1, 2, 5: head 1 collapses."""
    heads = {
        0: [0.95, 0.94, 0.93, None, None, 0.9],
        1: [0.9, 0.6, 0.2, None, None, 0.05],
    }
    series: dict[str, list[float | None]] = {
        f"attn_entropy_h{head}": values for head, values in heads.items()
    }
    series["attn_entropy"] = heads[1]
    return LayerStats("attn", "MultiheadAttention", series)


def model_run(report: HealthReport | None, nodeid: str, **kwargs: object) -> ModelRun:
    model = report.model if report is not None else "Broken"
    origin = kwargs.pop("origin", "fixture")
    key = nodeid if origin == "config" else f"{nodeid}::{model}"
    return ModelRun(key, nodeid, model, origin, report, **kwargs)  # type: ignore[arg-type]


def sample_records() -> SessionRecords:
    finding = {
        "path": "models/net.py",
        "line": 12,
        "column": 16,
        "end_line": 12,
        "end_column": 40,
        "code": "NNL101",
        "name": "softmax-before-cross-entropy",
        "message": "softmax output fed to CrossEntropyLoss <script>",
        "severity": "error",
        "fix": None,
    }
    return SessionRecords(
        models=[
            model_run(healthy_report(), "tests/test_net.py::test_small"),
            model_run(
                with_attention(dead_relu_report()), "tests/test_net.py::test_dead"
            ),
            model_run(
                None,
                "pyproject.toml::pkg.models:make_broken",
                origin="config",
                error="cannot import 'pkg.models' for model factory 'pkg.models:make'",
            ),
        ],
        lint=[
            LintRun("models/net.py", "models/net.py::nnlint", [finding]),
            LintRun("models/ok.py", "models/ok.py::nnlint", []),
        ],
    )
