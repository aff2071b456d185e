"""One generic heat-map over steps: rows are units (layer/head, layer/expert), columns
are the steps they were measured at, colour is the value.

Used for per-head attention entropy and per-expert load. Returned as a
``data:image/png;base64,...`` URI like the other figures (``plots.to_data_uri``), so the
HTML report embeds it without any script. Missing cells (``None`` or non-finite, e.g.
a head measured on sampled steps only) are left blank, not drawn as zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib.figure import Figure

from pytest_nnhealth.judge.records import HealthReport
from pytest_nnhealth.reporting.plots import _STYLE, step_edges, to_data_uri

# Beyond this many rows the labels overlap; the figure grows up to this height and
# then shows every ``stride``-th label only (the cells stay one per row).
MAX_LABELLED_ROWS = 48
ROW_INCHES = 0.22


def heatmap_figure(
    title: str,
    row_labels: Sequence[str],
    steps: Sequence[int],
    values: Sequence[Sequence[float | None]],
    *,
    colour_label: str = "",
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
) -> str:
    """``values[row][column]`` is the value of ``row_labels[row]`` at ``steps[column]``.

    Raises ``ValueError`` when the matrix does not match the labels and steps: a
    silently mis-shaped heat-map would put numbers on the wrong head.
    """
    _check_shape(row_labels, steps, values)
    import matplotlib
    import numpy as np

    matrix = np.array(
        [[_cell(value) for value in row] for row in values], dtype=float
    ).reshape(len(row_labels), len(steps))
    masked = np.ma.masked_invalid(matrix)
    height = 1.4 + ROW_INCHES * min(max(len(row_labels), 1), MAX_LABELLED_ROWS)
    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=(8.5, height), layout="constrained")
        ax = figure.subplots()
        ax.set_title(title)
        if not row_labels or not steps:
            ax.text(0.5, 0.5, "not measured", ha="center", va="center")
            ax.set_axis_off()
            return to_data_uri(figure)
        rows = [index - 0.5 for index in range(len(row_labels) + 1)]
        mesh = ax.pcolormesh(
            step_edges(steps), rows, masked, cmap=cmap, vmin=vmin, vmax=vmax
        )
        figure.colorbar(mesh, ax=ax, label=colour_label, pad=0.01)
        stride = max(1, math.ceil(len(row_labels) / MAX_LABELLED_ROWS))
        ticks = list(range(0, len(row_labels), stride))
        ax.set_yticks(ticks, [row_labels[index] for index in ticks], fontsize=7)
        ax.invert_yaxis()  # first layer on top, as read
        ax.set_xlabel("step")
        return to_data_uri(figure)


def _cell(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _check_shape(
    row_labels: Sequence[str],
    steps: Sequence[int],
    values: Sequence[Sequence[float | None]],
) -> None:
    if len(values) != len(row_labels):
        raise ValueError(
            f"heatmap: {len(values)} value rows for {len(row_labels)} row labels"
        )
    for label, row in zip(row_labels, values, strict=True):
        if len(row) != len(steps):
            raise ValueError(
                f"heatmap: row {label!r} has {len(row)} values for {len(steps)} steps"
            )


def per_unit_rows(
    report: HealthReport, quantity: str, unit: str
) -> tuple[list[str], list[int], list[list[float | None]]]:
    """Rows ``<module> <unit><j>`` from the per-unit series ``<quantity>_h<j>`` of
    every module, over the steps any of them was measured at."""
    prefix = f"{quantity}_h"
    rows: list[tuple[str, list[float | None]]] = []
    for name, stats in report.layers.items():
        units = sorted(
            int(key[len(prefix) :])
            for key in stats.series
            if key.startswith(prefix) and key[len(prefix) :].isdigit()
        )
        for index in units:
            rows.append((f"{name} {unit}{index}", stats.series[f"{prefix}{index}"]))
    steps = sorted(
        {step for _, values in rows for step, v in enumerate(values) if v is not None}
    )
    matrix = [[values[step] for step in steps] for _, values in rows]
    return [label for label, _ in rows], steps, matrix


def attention_entropy_figure(report: HealthReport) -> str | None:
    """Per-head normalised attention entropy over the sampled steps (None when the
    model has no measured attention)."""
    labels, steps, values = per_unit_rows(report, "attn_entropy", "h")
    if not labels:
        return None
    return heatmap_figure(
        "attention entropy per head (1 = uniform, 0 = one key)",
        labels,
        steps,
        values,
        colour_label="normalised entropy",
        vmin=0.0,
        vmax=1.0,
    )
