"""The graph-mode engine: trace once, propagate shapes once, run every graph rule.

Rules are read-only passes; the engine turns their reports into findings positioned on
the user's source line (from the node's recorded stack trace), and adds the findings
that belong to no rule: an untraceable model (NNL600), a rule that crashed (NNL602) and
a forward pass that fails on the example input (NNL605).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Sequence
from typing import Any

from torch import nn

from nnlint.findings import Finding, Severity
from nnlint.fx import recording, shapes, tracing
from nnlint.fx.construction import Span, construction_spans
from nnlint.fx.graph import GraphView
from nnlint.fx.inputs import ExampleInputs
from nnlint.fx.inputs import example_inputs as example_inputs_of
from nnlint.fx.locations import Position, position
from nnlint.fx.losses import loss_family
from nnlint.fx.rules import GraphReport, GraphRule, all_graph_rules
from nnlint.fx.slicing import batch_slice


def analyze_model(
    model: nn.Module,
    example_inputs: tuple[Any, ...],
    loss_fn: Any = None,
    *,
    rules: Sequence[type[GraphRule]] | None = None,
    origin: tuple[str, int] | None = None,
    route: str = "traced",
) -> list[Finding]:
    """Graph-rule findings for ``model`` run on ``example_inputs``; never raises for
    problems in the model (they become findings), never mutates the model.

    ``origin`` (where the model was built, e.g. its factory) positions findings that
    have no user source line, such as those of a bare ``nn.Sequential``. ``route``:
    ``"traced"`` (symbolic tracing, then ``torch.export``) or ``"recorded"`` (one real
    forward, see ``nnlint.fx.recording``; the traced route when it fails)."""
    found = analyze_routed(
        model, example_inputs, loss_fn, rules=rules, origin=origin, route=route
    )
    return found[0]


def analyze_traced(
    model: nn.Module,
    example_inputs: tuple[Any, ...],
    loss_fn: Any = None,
    *,
    rules: Sequence[type[GraphRule]] | None = None,
    origin: tuple[str, int] | None = None,
) -> tuple[list[Finding], bool]:
    """``analyze_model``'s findings, and whether the model was traced (so the graph
    rules ran on it); graph mode's summary counts the traced models."""
    found, how = analyze_routed(
        model, example_inputs, loss_fn, rules=rules, origin=origin
    )
    return found, how != "untraced"


def analyze_routed(
    model: nn.Module,
    example_inputs: Any,
    loss_fn: Any = None,
    *,
    rules: Sequence[type[GraphRule]] | None = None,
    origin: tuple[str, int] | None = None,
    route: str = "traced",
) -> tuple[list[Finding], str]:
    """``analyze_model``'s findings, and how the graph was taken: ``"recorded"``,
    ``"symbolic"``, ``"export"`` or ``"untraced"``."""
    if route not in ("traced", "recorded"):
        raise ValueError(f"route must be 'traced' or 'recorded', not {route!r}")
    chosen = all_graph_rules() if rules is None else rules
    selected = [r for r in chosen if not r.REPORTED_BY_ENGINE]
    inputs = example_inputs_of(model, example_inputs)
    result, note = _recorded(model, inputs) if route == "recorded" else (None, "")
    if result is None or result.view is None:
        result = tracing.trace(model, inputs)
    if result.view is None:
        return [_untraced(model, inputs, result, origin)], "untraced"
    view = result.view
    view.loss = loss_family(loss_fn)
    if not view.recorded:
        view.failure = shapes.propagate(view, inputs.args)
    findings: list[Finding] = []
    for rule in selected:
        findings.extend(_run_rule(rule, view, model, origin))
    findings.extend(_forward_failure(view, findings, origin))
    if note and view.recorded:
        findings = [_noted(f, note) for f in findings]
    how = "recorded" if view.recorded else "export" if view.exported else "symbolic"
    return _collapse(findings), how


def _recorded(
    model: nn.Module, inputs: ExampleInputs
) -> tuple[tracing.TraceResult, str]:
    """The graph recorded on a few samples of the batch (``nnlint.fx.slicing``), and
    a note for messages that print its shapes; on the whole batch when the model
    rejects the slice (a fixed batch size in a ``view``, a buffer sized by it)."""
    sliced = batch_slice(inputs)
    if sliced is not None:
        result = recording.record(model, sliced.inputs)
        if result.view is not None:
            return result, (
                f" (shapes from the first {sliced.samples} of {sliced.of} samples)"
            )
    return recording.record(model, inputs), ""


# A shape as messages print it: "(2, 16, 32)", "(4,)".
_SHAPE = re.compile(r"\(\d+(?:, \d+)*,?\)")


def _noted(finding: Finding, note: str) -> Finding:
    """``finding`` with ``note`` when its message prints a shape: the batch axis there
    is the recorded slice's, not the batch's."""
    if not _SHAPE.search(finding.message):
        return finding
    return dataclasses.replace(finding, message=finding.message + note)


def _untraced(
    model: nn.Module,
    inputs: ExampleInputs,
    result: tracing.TraceResult,
    origin: tuple[str, int] | None,
) -> Finding:
    """NNL605 when an eager fake run shows a real bug, else NNL600 (untraceable)."""
    broken = shapes.eager_failure(model, inputs.args, inputs.keywords)
    if broken is not None:
        place = broken[1] or result.where or model_location(model, origin)
        return engine_finding("NNL605", place, f"forward fails: {broken[0]}")
    where = result.where or model_location(model, origin)
    return engine_finding("NNL600", where, f"model not traced: {result.reason}")


def _forward_failure(
    view: GraphView, findings: list[Finding], origin: tuple[str, int] | None
) -> list[Finding]:
    """NNL605 where shape propagation stopped, unless a rule already explained it."""
    failure = view.failure
    if failure is None:
        return []
    spot = view.position(failure.node)
    if spot is not None and any(f.line == spot.line for f in findings):
        return []
    place = spot or _as_position(model_location(view.model, origin))
    return [_finding("NNL605", place, f"forward fails: {failure.error}")]


def _collapse(findings: list[Finding]) -> list[Finding]:
    """One finding per code and position: layers built by a helper inside one
    ``nn.Sequential`` all point at the line that calls it."""
    groups: dict[tuple[str, int, int, str], list[Finding]] = {}
    for finding in sorted(set(findings), key=lambda f: (f.sort_key, f.message)):
        key = (finding.path, finding.line, finding.column, finding.code)
        groups.setdefault(key, []).append(finding)
    collapsed = []
    for group in groups.values():
        first = group[0]
        if len(group) > 1:
            more = f" (and {len(group) - 1} more like it from this line)"
            about = tuple(dict.fromkeys(span for f in group for span in f.about))
            first = dataclasses.replace(
                first, message=first.message + more, about=about
            )
        collapsed.append(first)
    return collapsed


def positional_inputs(model: nn.Module, inputs: Any) -> tuple[Any, ...]:
    """``model(*inputs)`` arguments: a tuple or list as is, a dict of keyword inputs
    in ``forward``'s parameter order (defaults filled in), anything else as the single
    input."""
    return example_inputs_of(model, inputs).args


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
        where = _report_position(report, view) or _as_position(
            model_location(model, origin)
        )
        finding = _rule_finding(rule, where, report)
        if rule.DUPLICATES:  # only twin merging reads where the module was built
            finding = dataclasses.replace(finding, about=_built_at(view, report.node))
        findings.append(finding)
    return findings


def _built_at(view: GraphView, node: Any) -> tuple[Span, ...]:
    owner = view.module_of(node) if node is not None else None
    return construction_spans(view.model, owner[0]) if owner is not None else ()


def _report_position(report: GraphReport, view: GraphView) -> Position | None:
    if report.location is not None:
        return position(*report.location)
    return view.position(report.node) if report.node is not None else None


def _rule_finding(
    rule: type[GraphRule], where: Position, report: GraphReport
) -> Finding:
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
    """Where ``model``'s class is defined, unless it is a torch class
    (``nn.Sequential``): then ``origin``, else a placeholder naming the class."""
    cls = model if isinstance(model, type) else type(model)
    if not cls.__module__.startswith("torch."):
        try:
            path = inspect.getsourcefile(cls) or inspect.getfile(cls)
            return path, inspect.getsourcelines(cls)[1]
        except (OSError, TypeError):
            pass
    return origin or (f"<{cls.__qualname__}>", 1)
