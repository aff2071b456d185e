"""Graph findings from ``nnlint.fx.analyze_model``, added to a health report.

Optional by design: graph mode is written separately and may be missing, fail to trace a
model, run past its budget or raise; none of that may break or hang ``check()``. The
status string says what happened and lands in ``report.meta["graph"]``.

The analysis runs on a copy of the model without its hooks, inside a time and memory
budget (see ``graph_bounds``). Its findings pass through ``nnlint.api.apply_policy``,
so ``[tool.nnlint]`` selection, per-file-ignores and ``# noqa: NNL610`` on the model's
line apply exactly as in ``nnlint --fx``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from torch import nn

from pytest_nnhealth.judge.records import HealthFinding
from pytest_nnhealth.training.graph_bounds import (
    BudgetExceeded,
    GraphLimits,
    Usage,
    budget,
    hookless_copy,
    resident_mb,
    without_global_hooks,
)


@dataclasses.dataclass
class GraphStep:
    """What the graph step of ``check()`` found and said, and its peak resident
    memory above the level before it, in MB (the model's copy included; None when it
    stopped before copying)."""

    findings: list[HealthFinding]
    status: str
    memory_mb: float | None = None


def graph_findings(
    model: nn.Module,
    batch: Any,
    loss_fn: Any,
    step_fn: Any,
    limits: GraphLimits | None = None,
) -> tuple[list[HealthFinding], str]:
    step = graph_step(model, batch, loss_fn, step_fn, limits)
    return step.findings, step.status


def graph_step(
    model: nn.Module,
    batch: Any,
    loss_fn: Any,
    step_fn: Any,
    limits: GraphLimits | None = None,
) -> GraphStep:
    try:
        import nnlint.fx as fx
    except Exception as error:  # noqa: BLE001 - absence or a broken import alike
        return GraphStep(
            [], f"skipped: nnlint.fx not importable ({type(error).__name__}: {error})"
        )
    analyze = getattr(fx, "analyze_model", None)
    if analyze is None:
        return GraphStep([], "skipped: nnlint.fx has no analyze_model")
    inputs = example_inputs(batch) if step_fn is None else declared_inputs(model)
    if inputs is None:
        return GraphStep([], (
            "skipped: needs a batch whose inputs are a tensor, tuple or dict"
            if step_fn is None
            else "skipped: with step_fn=, needs the model's example_input_array"
        ))  # fmt: skip
    before = resident_mb()
    try:
        clone, removed = hookless_copy(model)
    except Exception as error:  # noqa: BLE001
        status = f"skipped: model cannot be deep-copied ({type(error).__name__})"
        return GraphStep([], status)
    limits = limits or GraphLimits()
    usage: Usage | None = None
    try:
        with without_global_hooks() as global_hooks, budget(limits) as usage:
            found = list(analyze(clone, inputs, loss_fn=loss_fn, route=limits.route))
    except BudgetExceeded as error:
        status = f"{error.status}: graph analysis {error}{_hooks_note(removed)}"
        return GraphStep([], status, _extra(usage, before))
    except Exception as error:  # noqa: BLE001 - graph mode must never break check()
        status = f"failed: {type(error).__name__}: {error}"
        return GraphStep([], status, _extra(usage, before))
    kept, policy_note = _with_policy(found)
    status = f"ran: {len(kept)} finding(s){policy_note}"
    converted = [_convert(f) for f in kept]
    if step_fn is None:
        converted = [_ran_for_real(f) for f in converted]
    status += _hooks_note(removed + global_hooks)
    return GraphStep(converted, status, _extra(usage, before))


def _extra(usage: Usage | None, before: float) -> float | None:
    return None if usage is None else max(0.0, usage.peak_mb - before)


# Graph mode's "the forward pass fails on the example input": without a step_fn its
# example input is the batch the training steps have just run the real forward on, so
# a failure here is the fake-tensor analysis's (a `.to()` of a submodule inside
# forward, a kernel with no fake implementation), not the model's: information.
FORWARD_FAILS = "nnlint:NNL605"


def _ran_for_real(found: HealthFinding) -> HealthFinding:
    if found.check != FORWARD_FAILS or found.severity == "info":
        return found
    return dataclasses.replace(
        found,
        severity="info",
        message=(
            f"{found.message} (under graph mode's fake tensors only: the real "
            "forward ran on this batch in every step, so graph rules were not applied)"
        ),
    )


def example_inputs(batch: Any) -> tuple[Any, ...] | dict[str, Any] | None:
    """What ``check()`` calls the model with: positional inputs of an
    ``(inputs, target)`` batch, or keyword inputs (a dict inputs, or a whole dict
    batch such as a transformers batch with ``labels`` inside). None otherwise."""
    if isinstance(batch, Mapping):
        return dict(batch)
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        return None
    inputs = batch[0]
    if isinstance(inputs, Mapping):
        return dict(inputs)
    if isinstance(inputs, (tuple, list)):
        return tuple(inputs)
    return (inputs,)


def declared_inputs(model: nn.Module) -> tuple[Any, ...] | dict[str, Any] | None:
    """The example inputs a model declares (Lightning's ``example_input_array``, the
    convention nnlint's graph mode reads too), for models trained by a step_fn."""
    declared = getattr(model, "example_input_array", None)
    if declared is None:
        return None
    if isinstance(declared, Mapping):
        return dict(declared)
    return tuple(declared) if isinstance(declared, (tuple, list)) else (declared,)


def _with_policy(found: list[Any]) -> tuple[list[Any], str]:
    """The findings the project's nnlint policy keeps, and a note on what it left
    out. A broken configuration keeps everything and says so."""
    try:
        from nnlint.api import apply_policy

        kept = apply_policy(found)
    except Exception as error:  # noqa: BLE001 - ConfigError or a missing nnlint.api
        return found, f" (nnlint policy not applied: {error})"
    dropped = len(found) - len(kept)
    note = f" ({dropped} silenced by # noqa or [tool.nnlint])" if dropped else ""
    return kept, note


def _hooks_note(removed: int) -> str:
    if not removed:
        return ""
    return f"; traced without the model's {removed} forward/backward hook(s)"


def _convert(found: Any) -> HealthFinding:
    fix = getattr(found, "fix", None)
    hint = fix.description if fix is not None else f"see `nnlint rule {found.code}`"
    return HealthFinding(
        check=f"nnlint:{found.code}",
        module=f"{found.path}:{found.line}",
        value=None,
        limit="",
        step=None,
        message=found.message,
        hint=hint,
        severity=found.severity,
    )
