"""Bugs reproduced from public reports are found where the report says; near-misses
(correct code that looks like a bug) stay clean.

The cases and their markers are described in ``bench/realbug_recall.py``, which also
prints the recall. A bug the product cannot find stays in the set with a
``Source-miss`` (or ``Graph-miss``) header: its test is a strict xfail, so it fails
the day the product starts finding it and the header must go.
"""

from __future__ import annotations

import importlib.util

import pytest

from bench.realbug_recall import (
    Case,
    alarms,
    cases,
    graph_findings,
    hits,
    source_findings,
)

BUGS = cases("bugs")
CLEAN = cases("clean")
HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="graph mode needs torch")


def _param(case: Case, miss: str) -> object:
    reason = case.header.get(miss)
    marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
    return pytest.param(case, id=case.name, marks=marks)


def _found(findings: list) -> list[tuple[str, int]]:
    return sorted((f.code, f.line) for f in findings)


@pytest.mark.parametrize("case", [_param(c, "Source-miss") for c in BUGS])
def test_bug_is_found_in_source_mode(case: Case) -> None:
    findings = source_findings(case)
    found = _found(findings)
    assert hits(case.source, findings), f"expected {case.source}, got {found}"


@needs_torch
@pytest.mark.parametrize(
    "case", [_param(c, "Graph-miss") for c in BUGS if c.factory is not None]
)
def test_bug_is_found_in_graph_mode(case: Case) -> None:
    findings = graph_findings(case)
    assert hits(case.graph, findings), f"expected {case.graph}, got {_found(findings)}"


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CLEAN])
def test_near_miss_is_clean_in_source_mode(case: Case) -> None:
    assert _found(alarms(source_findings(case))) == []


@needs_torch
@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.name) for c in CLEAN if c.factory is not None]
)
def test_near_miss_is_clean_in_graph_mode(case: Case) -> None:
    assert _found(alarms(graph_findings(case))) == []


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in BUGS + CLEAN])
def test_case_header_is_complete(case: Case) -> None:
    assert case.url.startswith("https://")
    assert ("Bug" in case.header) != ("Near-miss" in case.header)
    if "Bug" in case.header:
        assert case.kind != "near-miss"
        assert case.source, "a bug marks its line with `# expect: NNLxxx`"
    if case.factory is not None and "Bug" in case.header:
        assert case.graph or "Graph-miss" in case.header


def test_the_set_is_large_enough_and_recall_meets_the_targets() -> None:
    """Strict xfails keep the miss headers true, so they give the recall."""
    assert len(BUGS) >= 40
    assert len(CLEAN) >= 10
    source_misses = sum("Source-miss" in c.header for c in BUGS)
    both_misses = sum(
        "Source-miss" in c.header and (c.factory is None or "Graph-miss" in c.header)
        for c in BUGS
    )
    assert 1 - source_misses / len(BUGS) >= 0.80
    assert 1 - both_misses / len(BUGS) >= 0.90
