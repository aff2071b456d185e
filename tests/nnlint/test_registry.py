"""Every rule (source and graph) has a valid, unique code and name and full docs."""

from __future__ import annotations

import re
from typing import Any

import pytest

from nnlint.cli.docsgen import SECTIONS, catalogue_rules, docstring_sections
from nnlint.rules import all_rules, rule_by_code

FLAKE8_CODE = re.compile(r"^[A-Z]{1,3}[0-9]{0,3}$")
NNL_CODE = re.compile(r"^NNL[0-9]{3}$")
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
RULES = catalogue_rules()


def test_registry_finds_the_engine_rules() -> None:
    codes = [rule.CODE for rule in all_rules()]
    assert codes[:3] == ["NNL001", "NNL002", "NNL003"]
    assert codes == sorted(codes)


def test_codes_and_names_are_unique() -> None:
    codes = [rule.CODE for rule in RULES]
    names = [rule.NAME for rule in RULES]
    assert len(codes) == len(set(codes)), codes
    assert len(names) == len(set(names)), names


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.CODE)
def test_code_name_and_metadata(rule: Any) -> None:
    assert FLAKE8_CODE.match(rule.CODE)
    assert NNL_CODE.match(rule.CODE)
    assert KEBAB.match(rule.NAME), rule.NAME
    assert rule.SEVERITY in ("error", "warning", "info")
    assert isinstance(rule.MESSAGE, str)
    assert rule.MESSAGE
    assert rule.FIX_TITLE is None or isinstance(rule.FIX_TITLE, str)


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.CODE)
def test_docstring_has_every_section_in_order(rule: Any) -> None:
    sections = docstring_sections(rule)
    assert tuple(sections) == SECTIONS
    assert all(sections.values()), [
        title for title, body in sections.items() if not body
    ]


def test_rule_by_code_accepts_codes_and_names() -> None:
    assert rule_by_code("nnl003") is rule_by_code("unused-noqa") is all_rules()[2]
    assert rule_by_code("NNL999") is None


def test_engine_finding_metadata_matches_the_rule_classes() -> None:
    from nnlint.engine.pipeline import UNDECODABLE, UNUSED_NOQA
    from nnlint.rules.nnl002_undecodable_file import UndecodableFile
    from nnlint.rules.nnl003_unused_noqa import UnusedNoqa

    for (code, name, message), rule in (
        (UNDECODABLE, UndecodableFile),
        (UNUSED_NOQA, UnusedNoqa),
    ):
        assert (code, name, message) == (rule.CODE, rule.NAME, rule.MESSAGE)
