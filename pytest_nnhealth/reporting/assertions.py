"""Assertion helpers over a ``HealthReport``: pytest-friendly failures that name the
layer,
the quantity, the measured value and the healthy range.

Rendering is a pure function (``render_table``) so it is tested at a fixed width.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from pytest_nnhealth.judge.order import consequence_note
from pytest_nnhealth.judge.records import HealthFinding, HealthReport
from pytest_nnhealth.training.stopping import steps_text

COLUMNS = ("check", "module", "value", "healthy", "step")


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value != value or math.isinf(value):
        return str(value)
    return f"{value:.3g}"


def render_table(findings: Sequence[HealthFinding], width: int = 100) -> str:
    """A fixed-width plain-text table of findings, one row each, then their hints."""
    rows = [
        (
            f.check,
            f.module or "(model)",
            _fmt(f.value),
            f.limit or "-",
            "-" if f.step is None else str(f.step),
        )
        for f in findings
    ]
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
        for i, h in enumerate(COLUMNS)
    ]
    # Long module names (graph findings are path:line) are cut to keep the width.
    budget = width - sum(widths) + widths[1] - 2 * (len(COLUMNS) - 1)
    widths[1] = max(12, min(widths[1], budget))

    def line(cells: Sequence[str]) -> str:
        parts = [_cut(c, w).ljust(w) for c, w in zip(cells, widths, strict=True)]
        return "  ".join(parts).rstrip()

    out = [line(COLUMNS), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else "..." + text[-(width - 3) :]


def failure_message(report: HealthReport, width: int = 100) -> str:
    errors = [f for f in report.findings if f.severity == "error"]
    steps = steps_text(report.steps, report.meta)
    head = f"{report.model}: {len(errors)} unhealthy finding(s) in {steps} steps"
    body = "\n".join(f"- {f.message}{consequence_note(f)}" for f in errors)
    return f"{head}\n{render_table(errors, width)}\n\n{body}"


def assert_healthy(report: HealthReport) -> None:
    if not report.healthy:
        raise AssertionError(failure_message(report))


def _layer_values(
    report: HealthReport, quantity: str, modules: Iterable[str] | None
) -> dict[str, list[tuple[int, float]]]:
    wanted = None if modules is None else set(modules)
    if wanted is not None:
        missing = wanted - set(report.layers)
        if missing:
            raise AssertionError(
                f"no measurements for module(s) {sorted(missing)}; known: "
                f"{', '.join(report.layers)}"
            )
    return {
        name: [(s, v) for s, v in enumerate(stats.series[quantity]) if v is not None]
        for name, stats in report.layers.items()
        if quantity in stats.series and (wanted is None or name in wanted)
    }


def _assert_range(
    report: HealthReport,
    quantity: str,
    low: float,
    high: float,
    modules: Iterable[str] | None,
) -> None:
    if low > high:
        raise ValueError(f"low ({low}) must not exceed high ({high})")
    values = _layer_values(report, quantity, modules)
    if not values:
        raise AssertionError(
            f"no module of {report.model} has a {quantity} measurement"
        )
    bad = []
    for name, points in values.items():
        outside = [(s, v) for s, v in points if not low <= v <= high]
        if outside:
            step, value = outside[0]
            bad.append(
                f"`{name}` ({report.layers[name].type}): {quantity} = "
                f"{_fmt(value)} at step {step}, expected in [{low:g}, {high:g}]"
            )
    if bad:
        raise AssertionError(f"{len(bad)} module(s) out of range:\n" + "\n".join(bad))


def assert_activation_std(
    report: HealthReport, low: float, high: float, modules: Iterable[str] | None = None
) -> None:
    """Every (selected) module's output std within ``[low, high]`` on every step."""
    _assert_range(report, "act_std", low, high, modules)


def assert_grad_norm(
    report: HealthReport, low: float, high: float, modules: Iterable[str] | None = None
) -> None:
    """Every (selected) parameter-owning module's gradient norm within range."""
    _assert_range(report, "grad_norm", low, high, modules)


def assert_update_ratio(
    report: HealthReport, low: float, high: float, modules: Iterable[str] | None = None
) -> None:
    """Every (selected) module's ||dw||/||w|| within range on every measured step."""
    _assert_range(report, "update_ratio", low, high, modules)


def assert_grad_ratio(report: HealthReport, low: float, high: float) -> None:
    """First-layer over last-layer gradient norm (parameter-owning modules in forward
    order) within ``[low, high]`` on every step."""
    owners = [n for n, s in report.layers.items() if "grad_norm" in s.series]
    if len(owners) < 2:
        raise AssertionError("need two parameter-owning modules for a gradient ratio")
    first, last = owners[0], owners[-1]
    pairs = zip(
        report.layers[first].series["grad_norm"],
        report.layers[last].series["grad_norm"],
        strict=True,
    )
    for step, (a, b) in enumerate(pairs):
        if a is None or b is None:
            continue
        ratio = a / b if b else math.inf
        if not low <= ratio <= high:
            raise AssertionError(
                f"gradient ratio `{first}` / `{last}` = {_fmt(ratio)} at step {step}, "
                f"expected in [{low:g}, {high:g}]"
            )
