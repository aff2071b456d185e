"""The ``--nnhealth-report=PATH.html`` page: a pure function of the session records.

One self-contained file: CSS inline, figures embedded as base64 PNG, no script and no
network access at view time. Per model: the per-layer plots over steps, the histogram
heat-maps, and the findings beside them. Needs the ``html`` extra (matplotlib, jinja2).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import pytest

from nnlint import __version__
from pytest_nnhealth.reporting.runs import ModelRun, SessionRecords
from pytest_nnhealth.training.stopping import steps_text

TEMPLATES = Path(__file__).parent / "templates"
INSTALL_HINT = (
    "HTML reports need matplotlib and jinja2: pip install 'pytest-nnhealth[html]'"
)
VERDICT_WORDS = {
    "healthy": "healthy",
    "warnings": "warnings",
    "unhealthy": "unhealthy",
    "drifted": "drifted from baseline",
    "error": "error",
}


def require_html_extra() -> None:
    missing = [name for name in ("matplotlib", "jinja2") if not _installed(name)]
    if missing:
        raise pytest.UsageError(f"{INSTALL_HINT} (missing: {', '.join(missing)})")


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def render_html(records: SessionRecords) -> str:
    require_html_extra()
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = environment.get_template("report.html.j2")
    models = [_model_view(index, run) for index, run in enumerate(records.models)]
    counts: dict[str, int] = {}
    for model in models:
        counts[model["verdict"]] = counts.get(model["verdict"], 0) + 1
    return template.render(
        version=__version__,
        models=models,
        counts=counts,
        lint=[run for run in records.lint if run.findings],
        lint_files=len(records.lint),
        verdict_words=VERDICT_WORDS,
    )


def _model_view(index: int, run: ModelRun) -> dict[str, Any]:
    from pytest_nnhealth.plugin.summary import worst_symptoms
    from pytest_nnhealth.reporting.plots import histogram_figure, series_figure

    report = run.report
    view: dict[str, Any] = {
        "anchor": f"model-{index + 1}",
        "name": run.model,
        "nodeid": run.nodeid,
        "origin": "[tool.nnhealth]" if run.origin == "config" else "nnhealth fixture",
        "verdict": run.verdict,
        "worst": worst_symptoms(run),
        "error": run.error,
        "drift": [drift.describe() for drift in run.drift],
        "baseline_factor": run.baseline_factor,
        "findings": [],
        "facts": [],
        "series_png": None,
        "histogram_png": None,
        "heatmaps": [],
    }
    if report is None:
        return view
    view["findings"] = [_finding_view(finding) for finding in report.findings]
    view["facts"] = _facts(report)
    view["series_png"] = series_figure(report)
    view["histogram_png"] = histogram_figure(report)
    view["heatmaps"] = _heatmaps(report)
    return view


def _heatmaps(report: Any) -> list[dict[str, str]]:
    """Per-unit heat-maps over steps (attention heads, ...), each with a CSS class
    and a heading; only those with measurements."""
    from pytest_nnhealth.reporting.expert_load import expert_load_figure
    from pytest_nnhealth.reporting.heatmap import attention_entropy_figure

    figures = [
        ("attention", "Attention entropy per head", attention_entropy_figure),
        ("experts", "Tokens per expert", expert_load_figure),
    ]
    views = []
    for kind, heading, make in figures:
        png = make(report)
        if png is not None:
            views.append({"kind": kind, "heading": heading, "png": png})
    return views


def _finding_view(finding: Any) -> dict[str, Any]:
    return {
        "check": finding.check,
        "module": finding.module or "(whole model)",
        "value": _number(finding.value),
        "limit": finding.limit,
        "step": finding.step,
        "message": finding.message,
        "hint": finding.hint,
        "severity": finding.severity,
        "consequence_of": getattr(finding, "consequence_of", None),
    }


def _facts(report: Any) -> list[tuple[str, str]]:
    steps = steps_text(report.steps, report.meta)
    layers = sum(1 for name in report.layers if name)  # "": the output logits
    facts = [("layers", str(layers)), ("steps", steps)]
    if report.seeds:
        facts.append(("seeds", ", ".join(str(seed) for seed in report.seeds)))
    if report.losses:
        facts.append(
            ("loss", f"{_number(report.losses[0])} → {_number(report.losses[-1])}")
        )
    for key in ("device", "optimizer"):
        if report.meta.get(key):
            facts.append((key, str(report.meta[key])))
    return facts


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.3g}"
