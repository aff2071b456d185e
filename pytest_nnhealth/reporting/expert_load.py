"""Per-expert load over steps for the HTML report: one heat-map row per (router,
expert), one column per step, colour = the expert's share of the router's choices that
step (1/experts when balanced; 0 for an expert that got nothing). A share, not a
count, so routers with different token counts share one colour scale.
"""

from __future__ import annotations

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.judge.records import HealthReport

Rows = tuple[list[str], list[int], list[list[float | None]]]
Loads = list[list[float | None]]  # expert -> step -> tokens


def router_loads(report: HealthReport) -> dict[str, Loads]:
    """Tokens per expert per step of every router the report read (``routers``),
    skipping one whose rows are missing (a report trimmed by hand)."""
    out: dict[str, Loads] = {}
    for router in report.routers:
        stats = report.layers.get(router.name)
        keys = [Q.expert_key(Q.EXPERT_TOKENS, e) for e in range(router.experts)]
        if stats is not None and all(key in stats.series for key in keys):
            out[router.name] = [stats.series[key] for key in keys]
    return out


def expert_load_rows(report: HealthReport) -> Rows:
    """(row labels, steps, values[row][step]) over every router in the report."""
    labels: list[str] = []
    values: list[list[float | None]] = []
    for name, experts in router_loads(report).items():
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
