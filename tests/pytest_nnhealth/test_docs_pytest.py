"""docs/pytest.md documents every option, ini key, fixture and marker the plugin has,
and nothing it does not have."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).parents[2] / "docs" / "pytest.md"


def _help(pytester: pytest.Pytester) -> str:
    result = pytester.runpytest("--help")
    assert result.ret == 0
    return result.stdout.str()


def test_every_option_and_ini_key_is_documented(pytester: pytest.Pytester):
    text = _help(pytester)
    options = set(re.findall(r"^\s+(--nnhealth[\w-]*)", text, re.MULTILINE))
    ini_keys = set(re.findall(r"^\s+(nnhealth_\w+) \(", text, re.MULTILINE))
    assert len(options) >= 12
    assert len(ini_keys) >= 8
    doc = DOC.read_text()
    headings = re.findall(r"^\| `(--nnhealth[\w-]*)", doc, re.MULTILINE)
    assert sorted(headings) == sorted(options)
    rows = re.findall(r"^\| `(nnhealth_\w+)` \|", doc, re.MULTILINE)
    assert sorted(rows) == sorted(ini_keys)


def test_documented_names_exist(pytester: pytest.Pytester):
    text = _help(pytester)
    doc = DOC.read_text()
    for option in set(re.findall(r"`(--nnhealth(?:-[a-z]+)*)", doc)):
        assert re.search(rf"^\s+{re.escape(option)}[ =\n]", text, re.MULTILINE), option
    for key in set(re.findall(r"`(nnhealth_\w+)", doc)):
        assert f"  {key} (" in text, key


def test_fixture_and_marker_are_documented(pytester: pytest.Pytester):
    doc = DOC.read_text()
    assert "### `nnhealth`" in doc
    assert "### `@pytest.mark.nnhealth(**overrides)`" in doc
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.nnhealth(**overrides): *"])
    result = pytester.runpytest("--fixtures")
    result.stdout.fnmatch_lines(["nnhealth -- *plugin/hooks.py*"])
