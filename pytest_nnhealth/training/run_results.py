"""A run's probes' measurements gathered into the judge's ``RunResult``.

Every probe's per-module series go onto one ``LayerStats`` per module (in the order
the forward hooks fired at step 0, then any other measured module), with the leaf and
parameter-owning modules listed for the judge; then each probe writes its other
measurements into their typed fields (``Probe.record``).
"""

from __future__ import annotations

from torch import nn

from pytest_nnhealth.judge.records import LayerStats, RunResult
from pytest_nnhealth.probes.base import Probe, RunContext, Series


def collect(
    model: nn.Module,
    ctx: RunContext,
    probes: list[Probe],
    losses: list[float],
    held: tuple[float, float],
) -> RunResult:
    series: Series = {}
    for probe in probes:
        for quantity, rows in probe.series().items():
            series.setdefault(quantity, {}).update(rows)
    types = {name: type(module).__name__ for name, module in model.named_modules()}
    order = list(ctx.order)
    names = order + [
        n for n in types if n not in ctx.order_set and _measured(n, series)
    ]
    layers: dict[str, LayerStats] = {}
    for name in names:
        rows = {
            q: by_module[name] for q, by_module in series.items() if name in by_module
        }
        layers[name] = LayerStats(name, types.get(name, "?"), rows)
    leaves = [
        name
        for name in order
        if not any(True for _ in model.get_submodule(name).children())
    ]
    owners = {pm.name for pm in ctx.param_modules}
    param_modules = [n for n in order if n in owners]
    param_modules += [
        pm.name for pm in ctx.param_modules if pm.name not in param_modules
    ]
    result = RunResult(layers, losses, held, order, leaves, param_modules)
    for probe in probes:  # the non-series measurements, into their typed fields
        probe.record(result)
    return result


def _measured(name: str, series: Series) -> bool:
    return any(name in rows for rows in series.values())
