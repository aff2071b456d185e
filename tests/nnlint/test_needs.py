"""Pre-filter declarations: checked at load, and pruning changes no finding.

The equivalence is checked with every source rule at once (what ``nnlint`` runs) on
every rule's VALID and INVALID examples and on every file of ``tests/realbugs``,
against the whole file parsed with no pre-filter at all.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from nnlint.registry import RuleDeclarationError, discover
from nnlint.rules import Rule, all_rules
from nnlint.rules.needs import Needs, declaration_problems, find_word
from nnlint.rules.nnl302_self_add_skip import SelfAddSkip
from nnlint.rules.nnl304_discarded_module_output import DiscardedModuleOutput

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the bench package lives at the repository root
    sys.path.insert(0, str(ROOT))

from bench.prefilter_equivalence import (  # noqa: E402
    pruned_findings,
    source_rules,
    whole_findings,
)

RULES = source_rules()
EXAMPLES = [
    pytest.param(source, id=f"{rule.CODE}-{kind}-{index}")
    for rule in RULES
    for kind, sources in (
        ("valid", rule.VALID),
        ("invalid", [example.code for example in rule.INVALID]),
    )
    for index, source in enumerate(sources)
]
REALBUGS = sorted((ROOT / "tests" / "realbugs").glob("*/*.py"))


@pytest.mark.parametrize("source", EXAMPLES)
def test_every_example_has_the_same_findings_pruned_and_whole(source: str) -> None:
    assert pruned_findings(source, "t.py", RULES) == whole_findings(
        source, "t.py", RULES
    )


@pytest.mark.parametrize("path", REALBUGS, ids=lambda path: path.name)
def test_every_realbug_has_the_same_findings_pruned_and_whole(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    whole = whole_findings(text, str(path), RULES)
    assert pruned_findings(text, str(path), RULES) == whole


def test_the_realbugs_are_there_and_found() -> None:
    # The comparison above is only worth something on files with findings.
    assert len(REALBUGS) >= 60
    found = [p for p in REALBUGS if whole_findings(p.read_text(), str(p), RULES)]
    assert len(found) >= 40


def test_every_walking_rule_declares_what_it_needs() -> None:
    undeclared = [rule.CODE for rule in RULES if rule.NEEDS is None]
    assert undeclared == []
    assert all(declaration_problems(rule) == [] for rule in all_rules())


class _Base(Rule):
    CODE = "NNL990"
    NAME = "test-base"
    MESSAGE = "test"


def _rule(**attributes: object) -> type[Rule]:
    return type("Probe", (_Base,), {"__module__": __name__, **attributes})


@pytest.mark.parametrize(
    ("attributes", "problem"),
    [
        ({"TRIGGERS": ("softmax",)}, "TRIGGERS is no longer read"),
        ({"WHOLE_FILE": True}, "WHOLE_FILE is no longer read"),
        ({"NEEDS": ("softmax",)}, "NEEDS must be a Needs(...), not tuple"),
        ({"NEEDS": Needs(())}, "non-empty tuple"),
        ({"NEEDS": Needs("softmax")}, "non-empty tuple"),  # type: ignore[arg-type]
        ({"NEEDS": Needs(("",))}, "empty or non-string word"),
        ({"NEEDS": Needs(("x",), scope="module")}, "scope must be one of"),  # type: ignore[arg-type]
        ({"NEEDS": Needs(("x",), pattern="x+")}, "compiled pattern"),  # type: ignore[arg-type]
        ({"NEEDS": Needs(("x",), evidence="x")}, "function of the picked text"),  # type: ignore[arg-type]
        (
            {"NEEDS": Needs(("x",), scope="file", pattern=re.compile("x"))},
            "scope 'file' parses everything",
        ),
        ({"NEEDS": Needs(("x",), screen="x")}, "function of one ast statement"),  # type: ignore[arg-type]
        (
            {"NEEDS": Needs(("x",), scope="file", screen=bool)},
            "scope 'file' parses everything",
        ),
    ],
)
def test_bad_declarations_are_named(
    attributes: dict[str, object], problem: str
) -> None:
    problems = declaration_problems(_rule(**attributes))
    assert len(problems) == 1
    assert problem in problems[0]


def _rejects_everything(statement: ast.stmt) -> bool:
    return False


@pytest.mark.parametrize("rule", [SelfAddSkip, DiscardedModuleOutput])
def test_a_screen_that_is_not_a_necessary_condition_is_caught(
    rule: type[Rule],
) -> None:
    # The comparison above is what guards every screen: one that drops the
    # statement a finding is in must show up as a difference on the examples.
    assert rule.NEEDS is not None
    wrong = type(
        "Wrong",
        (rule,),
        {"NEEDS": replace(rule.NEEDS, screen=_rejects_everything)},
    )
    assert declaration_problems(wrong) == []
    differing = [
        example.line
        for example in rule.INVALID
        if pruned_findings(example.code, "t.py", [wrong])
        != whole_findings(example.code, "t.py", [wrong])
    ]
    assert len(differing) == len(rule.INVALID)


def test_no_declaration_is_allowed_and_means_the_whole_file() -> None:
    assert declaration_problems(_rule()) == []


def test_the_registry_refuses_a_bad_declaration_at_load_naming_the_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "fakerules"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "nnl990_bad.py").write_text(
        "from nnlint.rules import Rule\n"
        "class Bad(Rule):\n"
        "    CODE = 'NNL990'\n"
        "    TRIGGERS = ('softmax',)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RuleDeclarationError) as raised:
        discover("fakerules", [str(package)], Rule, declaration_problems)
    assert str(raised.value).splitlines()[1] == (
        "NNL990 (fakerules.nnl990_bad.Bad): TRIGGERS is no longer read; "
        "declare NEEDS = Needs(...) instead"
    )


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("w = torch.Tensor(3)", 10),
        ("w = torch.Tensor (3)", 10),
        ("w = f(torch.Tensor  # rows\n    (3))", 12),
        ("w = torch.Tensor \\\n(3)", 10),
        ("def f(t: Tensor) -> Tensor: ...", -1),
    ],
)
def test_a_word_ending_in_a_parenthesis_is_a_call_with_any_gap(
    source: str, found: int
) -> None:
    assert find_word(source, "Tensor(") == found
    assert find_word(source, "Tensor") == source.find("Tensor")
