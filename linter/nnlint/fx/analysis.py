"""The graph-mode engine: trace once, propagate shapes once, run every graph rule.

Rules are read-only passes; the engine turns their reports into findings positioned on
the user's source line (from the node's recorded stack trace), and adds the findings
that belong to no rule: an untraceable model (NNL600), a rule that crashed (NNL602) and
a forward pass that fails on the example input (NNL605).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from torch import nn

from nnlint.findings import Finding, Severity
from nnlint.fx import shapes, tracing
from nnlint.fx.graph import GraphView
from nnlint.fx.locations import Position, position
from nnlint.fx.losses import loss_family
from nnlint.fx.rules import GraphReport, GraphRule, all_graph_rules


def analyze_model(
    model: nn.Module,
    example_inputs: tuple[Any, ...],
    loss_fn: Any = None,
    *,
    rules: Sequence[type[GraphRule]] | None = None,
    origin: tuple[str, int] | None = None,
) -> list[Finding]:
    """Graph-rule findings for ``model`` run on ``example_inputs``; never raises for
    problems in the model (they become findings), never mutates the model.

    ``origin`` (where the model was built, e.g. its factory) positions findings that
    have no user source line, such as those of a bare ``nn.Sequential``."""
    selected = [r for r in (rules or all_graph_rules()) if not r.REPORTED_BY_ENGINE]
    if not isinstance(example_inputs, tuple):
        example_inputs = (example_inputs,)
    result = tracing.trace(model, example_inputs)
    if result.view is None:
        where = result.where or model_location(model, origin)
        return [engine_finding("NNL600", where, f"model not traced: {result.reason}")]
    view = result.view
    view.loss = loss_family(loss_fn)
    view.failure = shapes.propagate(view, example_inputs)
    findings: list[Finding] = []
    for rule in selected:
        findings.extend(_run_rule(rule, view, model, origin))
    failure = view.failure
    if failure is not None:
        where = view.position(failure.node)
        if where is None or not any(f.line == where.line for f in findings):
            place = where or _as_position(model_location(model, origin))
            findings.append(_finding("NNL605", place, f"forward fails: {failure.error}"))
    return sorted(set(findings), key=lambda finding: finding.sort_key)


def _run_rule(
    rule: type[GraphRule],
    view: GraphView,
    model: nn.Module,
    origin: tuple[str, int] | None,
) -> list[Finding]:
    instance = rule()
    try:
        instance.run(view)
    except Exception as error:  # a rule bug must not hide the other rules' findings
        message = f"graph rule {rule.CODE} crashed: {type(error).__name__}: {error}"
        return [engine_finding("NNL602", model_location(model, origin), message)]
    findings = []
    for report in instance.reports:
        where = _report_position(report, view) or _as_position(model_location(model, origin))
        findings.append(_rule_finding(rule, where, report))
    return findings


def _report_position(report: GraphReport, view: GraphView) -> Position | None:
    if report.location is not None:
        return position(*report.location)
    return view.position(report.node) if report.node is not None else None


def _rule_finding(rule: type[GraphRule], where: Position, report: GraphReport) -> Finding:
    severity: Severity = report.severity or rule.SEVERITY
    return Finding(
        path=where.path,
        line=where.line,
        column=where.column,
        end_line=where.end_line or where.line,
        end_column=where.end_column,
        code=rule.CODE,
        name=rule.NAME,
        message=report.message,
        severity=severity,
    )


def _finding(code: str, where: Position, message: str) -> Finding:
    from nnlint.fx.rules import graph_rule_by_code

    rule = graph_rule_by_code(code)
    assert rule is not None, code
    return _rule_finding(rule, where, GraphReport(None, message))


def engine_finding(code: str, where: tuple[str, int], message: str) -> Finding:
    """A finding of an engine-reported code (NNL600-NNL605) at ``where``."""
    return _finding(code, _as_position(where), message)


def _as_position(where: tuple[str, int]) -> Position:
    return position(where[0], where[1])


def model_location(
    model: Any, origin: tuple[str, int] | None = None
) -> tuple[str, int]:
    """Where ``model``'s class is defined, unless it is a torch class (``nn.Sequential``):
    then ``origin``, else a placeholder naming the class."""
    cls = model if isinstance(model, type) else type(model)
    if not cls.__module__.startswith("torch."):
        try:
            path = inspect.getsourcefile(cls) or inspect.getfile(cls)
            return path, inspect.getsourcelines(cls)[1]
        except (OSError, TypeError):
            pass
    return origin or (f"<{cls.__qualname__}>", 1)
