"""Assertion helpers over a ``HealthReport``: pytest-friendly failures that name the
layer,
the quantity, the measured value and the healthy range.

Rendering is a pure function (``render_table``) so it is tested at a fixed width.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

from pytest_nnhealth.judge import quantities as Q
from pytest_nnhealth.judge.groups import FindingGroup, group_repeats
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


def render_table(
    findings: Sequence[HealthFinding | FindingGroup], width: int = 100
) -> str:
    """A fixed-width plain-text table, one row per finding or group of repeats (the
    first member's values, "+N more" after its module)."""
    rows = [_row(item) for item in findings]
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


def _row(item: HealthFinding | FindingGroup) -> tuple[str, str, str, str, str]:
    first = item.first if isinstance(item, FindingGroup) else item
    module = first.module or "(model)"
    if isinstance(item, FindingGroup) and item.count > 1:
        module += f" +{item.count - 1} more"
    step = "-" if first.step is None else str(first.step)
    return (first.check, module, _fmt(first.value), first.limit or "-", step)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else "..." + text[-(width - 3) :]


def failure_message(report: HealthReport, width: int = 100) -> str:
    errors = [f for f in report.findings if f.severity == "error"]
    steps = steps_text(report.steps, report.meta)
    head = f"{report.model}: {len(errors)} unhealthy finding(s) in {steps} steps"
    groups = group_repeats(errors)
    body = "\n".join(_entry(group) for group in groups)
    return f"{head}\n{render_table(groups, width)}\n\n{body}"


def _entry(group: FindingGroup) -> str:
    """One line per finding; a group of repeats names its first layers and count,
    then the first one's message (the JSON report keeps every finding)."""
    note = consequence_note(group.first)
    if group.count == 1:
        return f"- {group.first.message}{note}"
    return f"- {group.title()}{note}; the first: {group.first.message}"


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
    _assert_range(report, Q.ACT_STD, low, high, modules)


def assert_grad_norm(
    report: HealthReport, low: float, high: float, modules: Iterable[str] | None = None
) -> None:
    """Every (selected) parameter-owning module's gradient norm within range."""
    _assert_range(report, Q.GRAD_NORM, low, high, modules)


def assert_update_ratio(
    report: HealthReport, low: float, high: float, modules: Iterable[str] | None = None
) -> None:
    """Every (selected) module's ||dw||/||w|| within range on every measured step."""
    _assert_range(report, Q.UPDATE_RATIO, low, high, modules)


def assert_grad_ratio(report: HealthReport, low: float, high: float) -> None:
    """First-layer over last-layer gradient norm (parameter-owning modules in forward
    order) within ``[low, high]`` on every step."""
    owners = [n for n, s in report.layers.items() if Q.GRAD_NORM in s.series]
    if len(owners) < 2:
        raise AssertionError("need two parameter-owning modules for a gradient ratio")
    first, last = owners[0], owners[-1]
    pairs = zip(
        report.layers[first].series[Q.GRAD_NORM],
        report.layers[last].series[Q.GRAD_NORM],
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


def _head_values(
    report: HealthReport, quantity: str, modules: Iterable[str] | None
) -> dict[tuple[str, int], list[tuple[int, float]]]:
    """(module, head) -> measured (step, value) of ``<quantity>_h<head>``."""
    prefix = f"{quantity}_h"
    rows: dict[tuple[str, int], list[tuple[int, float]]] = {}
    for name, points_by_key in _attention_series(report, modules).items():
        for key, values in points_by_key.items():
            if key.startswith(prefix) and key[len(prefix) :].isdigit():
                measured = [(s, v) for s, v in enumerate(values) if v is not None]
                rows[(name, int(key[len(prefix) :]))] = measured
    if not rows:
        raise AssertionError(
            f"no attention measured in {report.model} (nn.MultiheadAttention, "
            "F.scaled_dot_product_attention or a softmax over (batch, heads, queries, "
            "keys); see docs/health/attention.md)"
        )
    return rows


def _attention_series(
    report: HealthReport, modules: Iterable[str] | None
) -> dict[str, dict[str, list[float | None]]]:
    with_attention = {
        name: stats.series
        for name, stats in report.layers.items()
        if "attn_entropy" in stats.series
    }
    if modules is None:
        return with_attention
    wanted = list(modules)
    missing = [name for name in wanted if name not in with_attention]
    if missing:
        raise AssertionError(
            f"no attention measurements for module(s) {missing}; measured: "
            f"{', '.join(with_attention) or 'none'}"
        )
    return {name: with_attention[name] for name in wanted}


def _assert_heads(
    report: HealthReport,
    quantity: str,
    ok: Callable[[float], bool],
    expected: str,
    modules: Iterable[str] | None,
) -> None:
    bad = []
    for (name, head), points in _head_values(report, quantity, modules).items():
        outside = [(s, v) for s, v in points if not ok(v)]
        if outside:
            step, value = outside[0]
            bad.append(
                f"`{name}` head {head}: {quantity} = {_fmt(value)} at step {step}, "
                f"expected {expected}"
            )
    if bad:
        raise AssertionError(f"{len(bad)} head(s) out of range:\n" + "\n".join(bad))


def assert_attention_entropy(
    report: HealthReport, low: float, modules: Iterable[str] | None = None
) -> None:
    """Every (selected) attention head's normalised entropy (1 = uniform over the
    keys, 0 = one key) is at least ``low`` on every sampled step."""
    _assert_heads(report, "attn_entropy", lambda v: v >= low, f">= {low:g}", modules)


def assert_attention_logits(
    report: HealthReport, high: float, modules: Iterable[str] | None = None
) -> None:
    """Every (selected) attention head's largest pre-softmax logit is at most
    ``high`` on every sampled step."""
    _assert_heads(
        report, "attn_logit_max", lambda v: v <= high, f"<= {high:g}", modules
    )


def assert_logit_drift(
    report: HealthReport, max_shift: float, max_log_z: float | None = None
) -> None:
    """The model's mean output logit stays within ``max_shift`` nats of step 0 and,
    when given, ``|log Z|`` (logsumexp over the last axis, mean over rows) within
    ``max_log_z`` on every step."""
    stats = report.layers.get("")
    if stats is None or "logit_mean" not in stats.series:
        raise AssertionError(
            f"no output logits measured for {report.model} (the output needs a last "
            "axis of at least 2 classes)"
        )
    means = [(s, v) for s, v in enumerate(stats.series["logit_mean"]) if v is not None]
    start = means[0][1]
    for step, value in means:
        if abs(value - start) > max_shift:
            raise AssertionError(
                f"mean output logit drifted {value - start:+.3g} nats from step 0 at "
                f"step {step}, expected within {max_shift:g}"
            )
    if max_log_z is None:
        return
    for step, log_z in enumerate(stats.series.get("logit_lse", [])):
        if log_z is not None and abs(log_z) > max_log_z:
            raise AssertionError(
                f"log Z of the output = {_fmt(log_z)} at step {step}, expected "
                f"|log Z| <= {max_log_z:g}"
            )
