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

from collections.abc import Mapping
from typing import Any

from torch import nn

from pytest_nnhealth.judge.records import HealthFinding
from pytest_nnhealth.training.graph_bounds import (
    BudgetExceeded,
    GraphLimits,
    budget,
    hookless_copy,
    without_global_hooks,
)


def graph_findings(
    model: nn.Module,
    batch: Any,
    loss_fn: Any,
    step_fn: Any,
    limits: GraphLimits | None = None,
) -> tuple[list[HealthFinding], str]:
    try:
        import nnlint.fx as fx
    except Exception as error:  # noqa: BLE001 - absence or a broken import alike
        return (
            [],
            f"skipped: nnlint.fx not importable ({type(error).__name__}: {error})",
        )
    analyze = getattr(fx, "analyze_model", None)
    if analyze is None:
        return [], "skipped: nnlint.fx has no analyze_model"
    inputs = example_inputs(batch) if step_fn is None else declared_inputs(model)
    if inputs is None:
        return [], (
            "skipped: needs a batch whose inputs are a tensor, tuple or dict"
            if step_fn is None
            else "skipped: with step_fn=, needs the model's example_input_array"
        )
    try:
        clone, removed = hookless_copy(model)
    except Exception as error:  # noqa: BLE001
        return [], f"skipped: model cannot be deep-copied ({type(error).__name__})"
    limits = limits or GraphLimits()
    try:
        with without_global_hooks() as global_hooks, budget(limits):
            found = list(analyze(clone, inputs, loss_fn=loss_fn, route=limits.route))
    except BudgetExceeded as error:
        return [], f"{error.status}: graph analysis {error}{_hooks_note(removed)}"
    except Exception as error:  # noqa: BLE001 - graph mode must never break check()
        return [], f"failed: {type(error).__name__}: {error}"
    kept, policy_note = _with_policy(found)
    status = f"ran: {len(kept)} finding(s){policy_note}"
    return [_convert(f) for f in kept], status + _hooks_note(removed + global_hooks)


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
