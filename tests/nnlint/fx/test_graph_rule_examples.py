"""Every graph rule's VALID/INVALID inline models, run as tests (the examples are the
spec): VALID models give no finding of the rule, INVALID ones are flagged at the pinned
line of ``example.py``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from nnlint.fx import analyze_model
from nnlint.fx.rules import GraphInvalid, GraphRule, all_graph_rules

pytest.importorskip("torch")


def _cases(kind: str) -> list[Any]:
    cases = []
    for rule in all_graph_rules():
        examples = rule.VALID if kind == "valid" else rule.INVALID
        for index, example in enumerate(examples):
            cases.append(pytest.param(rule, example, id=f"{rule.CODE}-{kind}-{index}"))
    return cases


def _findings(rule: type[GraphRule], module: Any) -> list[Any]:
    # Engine-reported codes are no pass: run every rule, keep this code's findings.
    rules = None if rule.REPORTED_BY_ENGINE else [rule]
    loss_fn = getattr(module, "loss_fn", None)
    found = analyze_model(module.model, module.example_inputs, loss_fn, rules=rules)
    return [f for f in found if f.code == rule.CODE]


@pytest.mark.parametrize(("rule", "source"), _cases("valid"))
def test_valid_example_has_no_finding(
    rule: type[GraphRule], source: str, example: Callable[[str], Any]
) -> None:
    assert _findings(rule, example(source)) == []


@pytest.mark.parametrize(("rule", "invalid"), _cases("invalid"))
def test_invalid_example_is_flagged(
    rule: type[GraphRule], invalid: GraphInvalid, example: Callable[[str], Any]
) -> None:
    findings = _findings(rule, example(invalid.code))
    assert findings, f"{rule.CODE} did not flag:\n{invalid.code}"
    first = findings[0]
    assert first.path == "example.py"
    assert first.name == rule.NAME
    if invalid.line is not None:
        assert first.line == invalid.line


def test_analysis_never_mutates_the_model(example: Callable[[str], Any]) -> None:
    import torch

    for rule in all_graph_rules():
        for invalid in rule.INVALID:
            module = example(invalid.code)
            before = {k: v.clone() for k, v in module.model.state_dict().items()}
            _findings(rule, module)
            after = module.model.state_dict()
            assert before.keys() == after.keys()
            for key, value in before.items():
                assert torch.equal(value, after[key]), (rule.CODE, key)


@pytest.mark.parametrize("rule", all_graph_rules(), ids=lambda rule: rule.CODE)
def test_rule_is_documented(rule: type[GraphRule]) -> None:
    assert re.fullmatch(r"NNL6\d\d", rule.CODE)
    assert re.fullmatch(r"[a-z]+(-[a-z]+)*", rule.NAME)
    doc = rule.__doc__ or ""
    for section in (
        "## What it does",
        "## Why is this bad?",
        "## Example",
        "## Use instead",
        "## Fix safety",
        "## References",
    ):
        assert section in doc, (rule.CODE, section)
    if not rule.REPORTED_BY_ENGINE or rule.INVALID:
        assert len(rule.VALID) >= 3
        assert len(rule.INVALID) >= 3


def test_codes_and_names_are_unique() -> None:
    rules = all_graph_rules()
    assert len({rule.CODE for rule in rules}) == len(rules)
    assert len({rule.NAME for rule in rules}) == len(rules)


def test_rules_list_without_torch() -> None:
    """``nnlint rules`` and the docs list graph rules on machines without torch."""
    import subprocess
    import sys

    script = (
        "import sys; sys.modules['torch'] = None\n"
        "import nnlint.fx\n"
        "from nnlint.fx.rules import all_graph_rules\n"
        "print(len(all_graph_rules()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(all_graph_rules())
