"""Figures for the HTML report, returned as ``data:image/png;base64,...`` URIs.

matplotlib runs with the Agg backend on an explicit ``Figure`` (no pyplot state, no
display), so rendering is a pure function of the report and works headless. Layers are
coloured by depth (first = dark, last = light); layers named in a finding are drawn
thick in red and named in the legend, so the eye goes to what is wrong.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Any

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.judge.records import HealthReport, Histogram

# (series key, panel title, log scale, (low threshold key, high threshold key))
PANELS: tuple[tuple[str, str, bool, tuple[str | None, str | None]], ...] = (
    (Q.ACT_STD, "activation std", True, (None, None)),
    (Q.GRAD_NORM, "gradient norm", True, (None, None)),
    (
        Q.UPDATE_RATIO,
        "update ratio |Δw|/|w|",
        True,
        ("update_ratio_min", "update_ratio_max"),
    ),
    (Q.DEAD_FRACTION, "dead-unit fraction", False, (None, "dead_fraction_max")),
)
FLAGGED = "#d62728"
KIND_NAMES = {Q.ACT_HIST: "activations", Q.GRAD_HIST: "gradients"}
_CMAP = colormaps["viridis"]
_STYLE: Any = {"font.size": 9, "axes.titlesize": 10, "axes.titleweight": "bold"}


def to_data_uri(figure: Figure) -> str:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    # No "Software"/date metadata: the same records give byte-identical pages.
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode(
        "ascii"
    )


def flagged_layers(report: HealthReport) -> set[str]:
    return {finding.module for finding in report.findings if finding.module}


def series_figure(report: HealthReport) -> str:
    """Loss plus one panel per quantity, one line per layer over the steps."""
    import matplotlib

    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=(11, 6.2))
        figure.subplots_adjust(0.06, 0.08, 0.99, 0.95, wspace=0.28, hspace=0.42)
        axes = figure.subplots(2, 3).ravel()
        _loss_panel(axes[0], report.losses)
        flagged = flagged_layers(report)
        for ax, panel in zip(axes[1:], PANELS, strict=False):
            _quantity_panel(ax, report, panel, flagged)
        _legend_panel(axes[5], report, flagged)
        return to_data_uri(figure)


def _loss_panel(ax: Axes, losses: Sequence[float]) -> None:
    ax.set_title("training loss")
    finite = [(step, v) for step, v in enumerate(losses) if math.isfinite(v)]
    if finite:
        ax.plot(*zip(*finite, strict=True), color="#1f1f1f", marker="o", markersize=3)
    broken = [step for step, v in enumerate(losses) if not math.isfinite(v)]
    for step in broken[:1]:
        ax.axvline(step, color=FLAGGED, linestyle=":", label="non-finite loss")
        ax.legend(loc="best", fontsize=8)
    _finish(ax, "step")


def _quantity_panel(
    ax: Axes, report: HealthReport, panel: tuple[Any, ...], flagged: set[str]
) -> None:
    key, title, log, (low_key, high_key) = panel
    ax.set_title(title)
    rows = [
        (name, s.series[key]) for name, s in report.layers.items() if key in s.series
    ]
    if not rows:
        ax.text(0.5, 0.5, "not measured", ha="center", va="center", color="#888888")
        ax.set_axis_off()
        return
    norm = Normalize(0, max(len(rows) - 1, 1))
    for index, (name, values) in enumerate(rows):
        points = [(s, v) for s, v in enumerate(values) if _plottable(v, log)]
        if not points:
            continue
        hot = name in flagged
        ax.plot(
            *zip(*points, strict=True),
            color=FLAGGED if hot else _CMAP(norm(index)),
            linewidth=2.2 if hot else 0.9,
            alpha=1.0 if hot else 0.75,
            zorder=3 if hot else 2,
        )
    _limits(ax, report.thresholds, low_key, high_key)
    if log:
        ax.set_yscale("log")
    _finish(ax, "step")


def _plottable(value: float | None, log: bool) -> bool:
    return value is not None and math.isfinite(value) and (value > 0 or not log)


def _limits(
    ax: Axes, thresholds: dict[str, Any], low_key: str | None, high_key: str | None
) -> None:
    for key in (low_key, high_key):
        value = thresholds.get(key) if key else None
        if isinstance(value, int | float) and value > 0:
            ax.axhline(value, color="#555555", linestyle="--", linewidth=0.8, zorder=1)


def _legend_panel(ax: Axes, report: HealthReport, flagged: set[str]) -> None:
    """Explains the colours: a depth colour bar and the flagged layers by name."""
    ax.set_axis_off()
    names = [name for name in report.layers if name]  # "": the output logits
    ax.set_title("layers")
    if names:
        gradient = [[i / 255 for i in range(256)]]
        bar = ax.inset_axes((0.05, 0.78, 0.9, 0.08))
        bar.imshow(gradient, aspect="auto", cmap=_CMAP)
        bar.set_yticks([])
        bar.set_xticks([0, 255], [_short(names[0]), _short(names[-1])])
        bar.set_title(f"{len(names)} layers, input → output", fontsize=8)
    shown = sorted(flagged & set(names))[:8]
    lines = [f"— {_short(name, 34)}" for name in shown]
    if len(flagged & set(names)) > len(shown):
        lines.append(f"… and {len(flagged & set(names)) - len(shown)} more")
    text = "\n".join(lines) if lines else "no layer flagged"
    ax.text(0.05, 0.62, "flagged layers" if lines else "", weight="bold", va="top")
    ax.text(0.05, 0.52, text, color=FLAGGED if lines else "#2a7d2a", va="top")


def _short(name: str, size: int = 18) -> str:
    return name if len(name) <= size else "…" + name[-(size - 1) :]


def _finish(ax: Axes, xlabel: str) -> None:
    ax.set_xlabel(xlabel)
    ax.grid(True, alpha=0.25)
    ax.spines[["top", "right"]].set_visible(False)


def histogram_layers(report: HealthReport, limit: int = 4) -> list[str]:
    """Flagged layers first, then the first, middle and last layer with histograms."""
    with_hist = [name for name, stats in report.layers.items() if stats.histograms]
    chosen = [name for name in with_hist if name in flagged_layers(report)][:limit]
    for index in (0, len(with_hist) // 2, len(with_hist) - 1):
        if with_hist and len(chosen) < limit and with_hist[index] not in chosen:
            chosen.append(with_hist[index])
    return chosen


def histogram_figure(report: HealthReport) -> str | None:
    """Heat-maps: x = step, y = value bin, colour = log count; one row per layer,
    one column per histogram kind (activations, gradients)."""
    import matplotlib

    layers = histogram_layers(report)
    if not layers:
        return None
    kinds = sorted({kind for name in layers for kind in report.layers[name].histograms})
    with matplotlib.rc_context(_STYLE):
        figure = Figure(
            figsize=(5.3 * len(kinds), 2.1 * len(layers)), layout="constrained"
        )
        grid = figure.subplots(len(layers), len(kinds), squeeze=False)
        flagged = flagged_layers(report)
        for row, name in enumerate(layers):
            for column, kind in enumerate(kinds):
                histogram = report.layers[name].histograms.get(kind)
                _heatmap(grid[row][column], histogram, name, kind, name in flagged)
        return to_data_uri(figure)


def _heatmap(
    ax: Axes, histogram: Histogram | None, layer: str, kind: str, hot: bool
) -> None:
    title = f"{_short(layer, 40)} · {KIND_NAMES.get(kind, kind)}"
    ax.set_title(title, color=FLAGGED if hot else "black")
    if histogram is None or not histogram.counts:
        ax.text(0.5, 0.5, "not measured", ha="center", va="center", color="#888888")
        ax.set_axis_off()
        return
    steps = histogram.steps or list(range(len(histogram.counts)))
    columns = [[math.log1p(max(c, 0.0)) for c in counts] for counts in histogram.counts]
    values = [list(row) for row in zip(*columns, strict=True)]  # bins x sampled steps
    mesh = ax.pcolormesh(step_edges(steps), histogram.edges, values, cmap="magma")
    ax.figure.colorbar(mesh, ax=ax, label="log(1 + count)", pad=0.01)
    ax.set_ylabel("log10 |value|")
    ax.set_xlabel("step")
    ax.set_xticks(steps)


def step_edges(steps: Sequence[int]) -> list[float]:
    """Cell boundaries for columns measured at ``steps`` (sampled, unevenly spaced):
    half-way between neighbours, half a step beyond the ends."""
    middles = [
        (left + right) / 2 for left, right in zip(steps, steps[1:], strict=False)
    ]
    return [steps[0] - 0.5, *middles, steps[-1] + 0.5]
