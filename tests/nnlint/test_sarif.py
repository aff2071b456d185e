"""SARIF output is valid SARIF 2.1.0 (validated against the vendored OASIS schema)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from nnlint.cli.docsgen import catalogue_rules
from nnlint.findings import Finding, Fix
from nnlint.output.sarif import render_sarif

SCHEMA = Path(__file__).parent / "fixtures" / "sarif" / "sarif-schema-2.1.0.json"

FINDINGS = [
    Finding("src/model.py", 3, 5, 3, 20, "NNL001", "syntax-error", "bad", "error"),
    Finding(
        "src/my model.py",
        1,
        1,
        2,
        1,
        "NNL003",
        "unused-noqa",
        "w",
        "warning",
        Fix("d", True),
    ),
    Finding("a/b.py", 10, 1, 10, 1, "NNL999", "unknown", "note", "info"),
]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())


def test_output_validates_against_the_schema(
    validator: jsonschema.Draft7Validator,
) -> None:
    log = json.loads(render_sarif(FINDINGS, catalogue_rules()))
    errors = sorted(validator.iter_errors(log), key=str)
    assert errors == []


def test_empty_run_validates(validator: jsonschema.Draft7Validator) -> None:
    log = json.loads(render_sarif([], []))
    assert list(validator.iter_errors(log)) == []
    assert log["runs"][0]["results"] == []


def test_results_carry_rule_level_and_region(
    validator: jsonschema.Draft7Validator,
) -> None:
    log = json.loads(render_sarif(FINDINGS, catalogue_rules()))
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    first, second, third = run["results"]
    assert rules[first["ruleIndex"]]["id"] == "NNL001"
    assert first["level"] == "error"
    assert first["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 3,
        "startColumn": 5,
        "endLine": 3,
        "endColumn": 20,
    }
    location = second["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location["uri"] == "src/my%20model.py"
    assert second["level"] == "warning"
    assert third["level"] == "note"
    assert "ruleIndex" not in third  # not a registered rule


def test_a_broken_log_is_rejected(validator: jsonschema.Draft7Validator) -> None:
    """The schema check can fail: a region with line 0 is invalid SARIF."""
    log = json.loads(render_sarif(FINDINGS[:1], []))
    log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"][
        "startLine"
    ] = 0
    assert list(validator.iter_errors(log))
