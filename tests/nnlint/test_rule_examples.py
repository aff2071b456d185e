"""Every rule's own VALID/INVALID examples, run as tests (the examples are the spec)."""

from __future__ import annotations

import libcst as cst
import pytest

from nnlint.engine import apply_fixes, lint_module, lint_source
from nnlint.rules import Rule, all_rules
from nnlint.rules.base import Invalid


def _cases(kind: str) -> list[object]:
    cases = []
    for rule in all_rules():
        examples = rule.VALID if kind == "valid" else rule.INVALID
        for index, example in enumerate(examples):
            cases.append(pytest.param(rule, example, id=f"{rule.CODE}-{kind}-{index}"))
    return cases


@pytest.mark.parametrize(("rule", "source"), _cases("valid"))
def test_valid_example_has_no_finding(rule: type[Rule], source: str) -> None:
    findings = lint_source(source, "example.py", [rule])
    assert [f.code for f in findings if f.code == rule.CODE] == []


@pytest.mark.parametrize(("rule", "example"), _cases("invalid"))
def test_invalid_example_is_flagged(rule: type[Rule], example: Invalid) -> None:
    module = cst.parse_module(example.code)
    findings = [f for f in lint_module(module, "example.py", [rule]) if f.code == rule.CODE]
    assert findings, f"{rule.CODE} did not flag:\n{example.code}"
    first = findings[0]
    if example.line is not None:
        assert first.line == example.line
    if example.column is not None:
        assert first.column == example.column
    assert first.name == rule.NAME
    if example.fixed is not None:
        fixed = apply_fixes(module, findings, unsafe=True)
        assert fixed == example.fixed
        # A fix re-parses and is idempotent: linting the result finds nothing to fix.
        again = lint_module(cst.parse_module(fixed), "example.py", [rule])
        assert all(f.fix is None for f in again)


@pytest.mark.parametrize("rule", all_rules(), ids=lambda rule: rule.CODE)
def test_rule_has_enough_examples(rule: type[Rule]) -> None:
    assert len(rule.VALID) >= 3
    assert len(rule.INVALID) >= 3
