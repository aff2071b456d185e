"""Per-expert load over steps for the HTML report: one heat-map row per (router,
expert), one column per step, colour = the expert's share of the router's choices that
step (1/experts when balanced; 0 for an expert that got nothing). A share, not a
count, so routers with different token counts share one colour scale.
"""

from __future__ import annotations

from pytest_nnhealth.judge.records import HealthReport

Rows = tuple[list[str], list[int], list[list[float | None]]]


def expert_load_rows(report: HealthReport) -> Rows:
    """(row labels, steps, values[row][step]) over every router in the report."""
    labels: list[str] = []
    values: list[list[float | None]] = []
    for name, stats in report.layers.items():
        experts = [
            stats.series[key]
            for e in range(len(stats.series))
            if (key := f"expert_tokens.{e}") in stats.series
        ]
        if not experts:
            continue
        totals = [sum(v or 0.0 for v in step) for step in zip(*experts, strict=True)]
        for index, row in enumerate(experts):
            labels.append(f"{name} / expert {index}")
            values.append(
                [
                    None if v is None or total <= 0 else v / total
                    for v, total in zip(row, totals, strict=True)
                ]
            )
    steps = list(range(len(values[0]))) if values else []
    return labels, steps, values


def expert_load_figure(report: HealthReport) -> str | None:
    """The heat-map as a data URI, or None when no router was read."""
    labels, steps, values = expert_load_rows(report)
    if not labels:
        return None
    from pytest_nnhealth.reporting.heatmap import heatmap_figure

    return heatmap_figure(
        "Tokens per expert (share of the router's choices)",
        labels,
        steps,
        values,
        colour_label="share of choices",
        cmap="magma",
        vmin=0.0,
    )
