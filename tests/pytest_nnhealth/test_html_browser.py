"""The HTML report renders in a real headless browser (Debian's chromium package).

Skipped when chromium is not installed; CI installs it
(``apt-get install -y chromium``).
"""

from __future__ import annotations

import pytest
from nnhealth_sample_records import model_run, sample_records

from pytest_nnhealth.judge.measured import RouterInfo
from pytest_nnhealth.judge.records import HealthReport, LayerStats
from pytest_nnhealth.reporting.browser import dump_dom, find_chromium, screenshot
from pytest_nnhealth.reporting.html_report import render_html
from pytest_nnhealth.reporting.runs import SessionRecords

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("report") / "health.html"
    path.write_text(render_html(sample_records()), encoding="utf-8")
    return path


def test_dom_has_a_section_and_plots_per_model(page):
    assert CHROMIUM is not None
    dom = dump_dom(page, chromium=CHROMIUM)
    assert dom.count('<section class="model ') == 3
    assert 'id="model-2" data-verdict="unhealthy"' in dom
    assert dom.count('<img class="series"') == 2
    assert dom.count('<img class="histograms"') == 2
    assert dom.count('<img class="heatmap attention"') == 1
    assert "Attention entropy per head" in dom
    assert dom.count("data:image/png;base64,") == 5
    assert '<section class="lint" id="nnlint">' in dom


def test_screenshot_is_not_blank(page, tmp_path):
    assert CHROMIUM is not None
    from matplotlib import image

    png = tmp_path / "shot.png"
    screenshot(page, png, chromium=CHROMIUM, size=(1200, 1600))
    pixels = image.imread(png)[..., :3]
    assert pixels.shape[:2] == (1600, 1200)
    colours = {
        tuple(row) for row in (pixels[::7, ::7].reshape(-1, 3) * 255).astype(int)
    }
    assert len(colours) > 200  # text, badges and plots, not one flat colour
    # The dark page header is drawn at the top.
    assert pixels[:60, :, :].mean() < 0.3


def moe_records() -> SessionRecords:
    """One MoE model whose router sends everything to expert 0 from step 3."""
    balanced, collapsed = [16.0] * 4, [64.0, 0.0, 0.0, 0.0]
    loads = [balanced] * 3 + [collapsed] * 5
    series = {f"expert_tokens.{e}": [step[e] for step in loads] for e in range(4)}
    report = HealthReport(
        "TinyMoE", layers={"moe.gate": LayerStats("moe.gate", "Linear", series)},
        losses=[1.0] * 8, steps=8, routers=[RouterInfo("moe.gate", 4, 1)],
    )  # fmt: skip
    return SessionRecords(models=[model_run(report, "tests/test_moe.py::test_moe")])


def test_expert_load_heatmap_renders(tmp_path):
    assert CHROMIUM is not None
    from matplotlib import image

    page = tmp_path / "moe.html"
    page.write_text(render_html(moe_records()), encoding="utf-8")
    dom = dump_dom(page, chromium=CHROMIUM)
    assert dom.count('<img class="heatmap experts"') == 1
    assert "Tokens per expert" in dom
    png = tmp_path / "moe.png"
    screenshot(page, png, chromium=CHROMIUM, size=(1200, 1600))
    pixels = image.imread(png)[..., :3]
    colours = {
        tuple(row) for row in (pixels[::5, ::5].reshape(-1, 3) * 255).astype(int)
    }
    assert len(colours) > 100  # the heat-map's colour scale, not a blank page
