"""JSON and HTML reports: pure functions of the records, and written by the plugin."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from nnhealth_plugin_helpers import make_project
from nnhealth_sample_records import sample_records

from pytest_nnhealth.reporting import html_report
from pytest_nnhealth.reporting.html_report import render_html
from pytest_nnhealth.reporting.json_report import render_json
from pytest_nnhealth.reporting.runs import SessionRecords


def test_json_document_is_strict_json_and_round_trips():
    text = render_json(sample_records())
    document = json.loads(text, parse_constant=lambda name: pytest.fail(name))
    assert document["format"] == 1
    assert document["summary"] == {
        "models": 3,
        "verdicts": {"error": 1, "healthy": 1, "unhealthy": 1},
        "lint_files": 2,
        "lint_findings": 1,
    }
    dead = document["models"][1]
    assert dead["verdict"] == "unhealthy"
    assert dead["report"]["losses"][3] == "NaN"  # non-finite values as strings
    assert dead["report"]["findings"][0]["check"] == "dead_units"
    assert document["models"][2]["error"].startswith("cannot import 'pkg.models'")
    assert document["lint"][0]["findings"][0]["code"] == "NNL101"
    assert render_json(sample_records()) == text  # nothing time-dependent


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sections: list[dict[str, str]] = []
        self.images: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "section" and "model" in (values.get("class") or ""):
            self.sections.append(values)
        if tag == "img":
            self.images.append(values["src"])
        for name in ("src", "href"):
            link = values.get(name) or ""
            if link and not link.startswith(("#", "data:")):
                self.external.append(link)
        if tag in ("script", "link"):
            self.external.append(tag)


def test_html_page_has_a_section_per_model_with_embedded_plots():
    page = render_html(sample_records())
    parsed = _Collector()
    parsed.feed(page)
    assert [s["data-verdict"] for s in parsed.sections] == [
        "healthy",
        "unhealthy",
        "error",
    ]
    # series + histograms for each measured model, the attention heat-map for the one
    # with attention; none for the model that did not run
    assert len(parsed.images) == 5
    assert all(src.startswith("data:image/png;base64,") for src in parsed.images)
    assert parsed.external == []  # no network at view time, no script
    assert '<span class="what">dead_units</span>' in page
    assert "lower lr, use LeakyReLU/GELU" in page
    assert "softmax output fed to CrossEntropyLoss &lt;script&gt;" in page  # escaped
    assert "cannot import &#39;pkg.models&#39;" in page


def test_html_is_identical_for_identical_records():
    assert render_html(sample_records()) == render_html(sample_records())


def test_empty_session_still_renders():
    page = render_html(SessionRecords())
    assert "No models were health-checked" in page


def test_missing_html_extra_is_a_clear_usage_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(html_report, "_installed", lambda name: name != "jinja2")
    with pytest.raises(pytest.UsageError) as raised:
        html_report.require_html_extra()
    assert str(raised.value) == (
        "HTML reports need matplotlib and jinja2: pip install 'pytest-nnhealth[html]' "
        "(missing: jinja2)"
    )


TESTS = """
from tiny_models import make_tiny, make_dead

def test_tiny(nnhealth):
    model, batch, loss_fn = make_tiny()
    nnhealth(model, batch, loss_fn=loss_fn).assert_healthy()

def test_two_models(nnhealth):
    model, batch, loss_fn = make_tiny()
    nnhealth(model, batch, loss_fn=loss_fn)
    nnhealth(model, batch, loss_fn=loss_fn, name="tiny-again")
"""


def test_plugin_writes_both_reports(pytester: pytest.Pytester):
    make_project(pytester, table='models = ["tiny_models:make_dead"]')
    pytester.makepyfile(test_health=TESTS)
    result = pytester.runpytest(
        "--nnhealth",
        "--nnhealth-report=out/health.json",
        "--nnhealth-report",
        "out/health.html",
    )
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "nnhealth: wrote out/health.json (4 models)",
            "nnhealth: wrote out/health.html (4 models)",
        ]
    )
    document = json.loads((pytester.path / "out/health.json").read_text())
    assert [(m["key"], m["verdict"]) for m in document["models"]] == [
        ("pyproject.toml::tiny_models:make_dead", "unhealthy"),
        ("test_health.py::test_tiny::TinyNet", "healthy"),
        ("test_health.py::test_two_models::TinyNet", "healthy"),
        ("test_health.py::test_two_models::tiny-again", "healthy"),
    ]
    page = (pytester.path / "out/health.html").read_text()
    assert len(re.findall(r'<section class="model ', page)) == 4
    # The HTML report draws histograms, so they were measured (check() skips them
    # unless asked); the JSON report written alongside carries them too.
    assert len(re.findall(r'<img class="histograms"', page)) == 4
    assert all(_histogram_kinds(model) for model in document["models"])


def test_reports_without_nnhealth_hold_fixture_runs_only(pytester: pytest.Pytester):
    make_project(pytester, table='models = ["tiny_models:make_dead"]')
    pytester.makepyfile(test_health=TESTS)
    result = pytester.runpytest("--nnhealth-report=r.json", "-k", "test_tiny")
    result.assert_outcomes(passed=1, deselected=1)
    assert "nnhealth summary" not in result.stdout.str()
    document = json.loads((pytester.path / "r.json").read_text())
    assert [m["model"] for m in document["models"]] == ["TinyNet"]
    assert _histogram_kinds(document["models"][0]) == set()  # no HTML: not measured


def _histogram_kinds(model: dict) -> set[str]:
    """Histogram kinds over every layer of one model of a JSON report."""
    layers = model["report"]["layers"]
    return {kind for layer in layers.values() for kind in layer["histograms"]}


def test_unknown_report_suffix_is_a_usage_error(pytester: pytest.Pytester):
    result = pytester.runpytest("--nnhealth-report=report.txt")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --nnhealth-report=report.txt: the report format follows the "
            "suffix, "
            "use .json or .html"
        ]
    )


def test_plugin_and_records_agree_on_the_report_attribute():
    from pytest_nnhealth.plugin import hooks as plugin
    from pytest_nnhealth.reporting import runs

    assert plugin.REPORT_ATTRIBUTE == runs.REPORT_ATTRIBUTE


def test_html_and_json_show_which_finding_is_a_consequence():
    import dataclasses

    records = sample_records()
    report = records.models[1].report
    assert report is not None
    report.findings[0] = dataclasses.replace(
        report.findings[0], consequence_of="update_ratio_high in `net.0`"
    )
    page = render_html(records)
    assert (
        '<p class="consequence">consequence of <code>update_ratio_high in '
        "`net.0`</code>: fix that first</p>"
    ) in page
    document = json.loads(render_json(records))
    [run] = [m for m in document["models"] if m["report"] and m["report"]["findings"]]
    assert run["report"]["findings"][0]["consequence_of"] == (
        "update_ratio_high in `net.0`"
    )
