"""Every rule's own VALID/INVALID examples, run as tests (the examples are the spec).

Engine-level rules (NNL0xx: syntax errors, undecodable files, unused suppressions) have
no visitor; their examples run through the full API (decoding, parsing, suppression).
"""

from __future__ import annotations

import libcst as cst
import pytest

from nnlint.api import lint_text
from nnlint.engine.config import LintConfig
from nnlint.engine.fixer import apply_fixes
from nnlint.engine.lint_source import lint_module, lint_source
from nnlint.findings import Finding
from nnlint.rules import Rule, all_rules
from nnlint.rules.base import Invalid
from nnlint.rules.engine_rules import is_engine_rule
from nnlint.rules.nnl002_undecodable_file import UndecodableFile

ENGINE_CONFIG = LintConfig(select=("NNL00",))


def _cases(kind: str) -> list[object]:
    cases = []
    for rule in all_rules():
        examples = rule.VALID if kind == "valid" else rule.INVALID
        for index, example in enumerate(examples):
            cases.append(pytest.param(rule, example, id=f"{rule.CODE}-{kind}-{index}"))
    return cases


def _engine_findings(rule: type[Rule], source: str) -> list[Finding]:
    # NNL002's examples are about bytes: they are linted as the Latin-1 file they show.
    data = source.encode("latin-1") if rule is UndecodableFile else source.encode()
    return [
        f for f in lint_text(data, "example.py", ENGINE_CONFIG) if f.code == rule.CODE
    ]


@pytest.mark.parametrize(("rule", "source"), _cases("valid"))
def test_valid_example_has_no_finding(rule: type[Rule], source: str) -> None:
    if is_engine_rule(rule):
        assert _engine_findings(rule, source) == []
        return
    findings = lint_source(source, "example.py", [rule])
    assert [f.code for f in findings if f.code == rule.CODE] == []


@pytest.mark.parametrize(("rule", "example"), _cases("invalid"))
def test_invalid_example_is_flagged(rule: type[Rule], example: Invalid) -> None:
    if is_engine_rule(rule):
        findings = _engine_findings(rule, example.code)
        module = None
    else:
        module = cst.parse_module(example.code)
        findings = [
            f for f in lint_module(module, "example.py", [rule]) if f.code == rule.CODE
        ]
    assert findings, f"{rule.CODE} did not flag:\n{example.code}"
    first = findings[0]
    if example.line is not None:
        assert first.line == example.line
    if example.column is not None:
        assert first.column == example.column
    assert first.name == rule.NAME
    if example.fixed is not None:
        assert module is not None
        fixed = apply_fixes(module, findings, unsafe=True)
        assert fixed == example.fixed
        # A fix re-parses and is idempotent: linting the result finds nothing to fix.
        again = lint_module(cst.parse_module(fixed), "example.py", [rule])
        assert all(f.fix is None for f in again)


@pytest.mark.parametrize("rule", all_rules(), ids=lambda rule: rule.CODE)
def test_rule_has_enough_examples(rule: type[Rule]) -> None:
    assert len(rule.VALID) >= 3
    assert len(rule.INVALID) >= 3
