"""Graph findings from ``nnlint.fx.analyze_model``, added to a health report.

Optional by design: graph mode is written separately and may be missing, fail to trace a
model, or raise; none of that may break ``check()``. The status string says what
happened
and lands in ``report.meta["graph"]``.
"""

from __future__ import annotations

import copy
from typing import Any

from torch import nn

from pytest_nnhealth import batches as batch_forms
from pytest_nnhealth.records import HealthFinding


def graph_findings(
    model: nn.Module, batch: Any, loss_fn: Any, step_fn: Any
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
    inputs = batch_forms.first_inputs(batch) if step_fn is None else None
    if inputs is None:
        return [], "skipped: needs a batch whose inputs are a tensor or a tuple"
    try:
        clone = copy.deepcopy(model)
    except Exception as error:  # noqa: BLE001
        return [], f"skipped: model cannot be deep-copied ({type(error).__name__})"
    try:
        found = list(analyze(clone, inputs, loss_fn=loss_fn))
    except Exception as error:  # noqa: BLE001 - graph mode must never break check()
        return [], f"failed: {type(error).__name__}: {error}"
    return [_convert(f) for f in found], f"ran: {len(found)} finding(s)"


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
