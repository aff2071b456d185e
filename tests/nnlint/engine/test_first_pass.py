"""The engine's first pass (rules on the tree built from ``ast``) never stays silent
where the real pass reports, on every rule's own examples."""

from __future__ import annotations

import pytest

from nnlint.engine import lint_source
from nnlint.engine.cst_from_ast import module_from_ast
from nnlint.engine.lint_source import _reports, check_source
from nnlint.rules import Rule, all_rules
from nnlint.rules.base import Invalid
from nnlint.rules.engine_rules import is_engine_rule

RULES = [rule for rule in all_rules() if not is_engine_rule(rule)]


def _examples(kind: str) -> list[object]:
    return [
        pytest.param(rule, example, id=f"{rule.CODE}-{kind}-{index}")
        for rule in RULES
        for index, example in enumerate(rule.VALID if kind == "valid" else rule.INVALID)
    ]


@pytest.mark.parametrize(("rule", "example"), _examples("invalid"))
def test_first_pass_reports_every_invalid_example(
    rule: type[Rule], example: Invalid
) -> None:
    module = module_from_ast(example.code)
    if module is None:
        pytest.skip("not converted: the real parser is used")
    codes = [found.CODE for found, _ in _reports(module, "example.py", [rule])]
    assert rule.CODE in codes


def _without_first_pass(monkeypatch: pytest.MonkeyPatch, source: str) -> object:
    with monkeypatch.context() as patch:
        patch.setattr(lint_source, "module_from_ast", lambda text: None)
        return check_source(source, "example.py", RULES, prune=True)[0]


@pytest.mark.parametrize(
    ("rule", "example"), [*_examples("invalid"), *_examples("valid")]
)
def test_both_passes_give_the_same_findings(
    rule: type[Rule], example: Invalid | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = example.code if isinstance(example, Invalid) else example
    findings = check_source(source, "example.py", RULES, prune=True)[0]
    assert findings == _without_first_pass(monkeypatch, source)
