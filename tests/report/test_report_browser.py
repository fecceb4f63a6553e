"""The report opens in Debian Chromium as a reader would see it: every chart is drawn, nothing
runs off the page, and it prints to PDF. Saves docs/screenshots/report-*.png."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from racecramp.report.write import CHROMIUM, html_to_pdf

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
VIEWPORT = {"width": 1100, "height": 1600}

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian chromium not installed")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _open(browser, path: Path):
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    return page


def _assert_tables_fit(page) -> None:
    """No table runs past the right edge of the text column (a clipped column on paper)."""
    wide = page.evaluate("""() => { const edge = document.body.getBoundingClientRect().right;
        return [...document.querySelectorAll('table')].filter(t => t.getBoundingClientRect().right > edge + 1).map(t => t.id); }""")
    assert wide == [], f"tables wider than the page: {wide}"


def test_boston_2017_renders_every_chart_within_the_page(browser, demo_reports):
    page = _open(browser, demo_reports["boston-2017"].files["html"])
    sizes = page.evaluate("() => [...document.querySelectorAll('svg')].map(s => { const r = s.getBoundingClientRect(); return [r.width, r.height]; })")
    assert len(sizes) >= 6 and all(w > 200 and h > 100 for w, h in sizes), sizes
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the window"
    _assert_tables_fit(page)
    banner = page.locator("#simulated-banner")
    assert banner.is_visible() and "SIMULATED" in banner.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "report-boston-2017.png"
    page.screenshot(path=str(shot))
    page.locator("#timeline").screenshot(path=str(SCREENSHOTS / "report-boston-2017-timeline.png"))
    assert shot.stat().st_size > 50_000  # a drawn page, not a blank one
    page.close()


def test_boston_2018_comparison_and_survey_render(browser, demo_reports):
    page = _open(browser, demo_reports["boston-2018"].files["html"])
    rows = page.locator("#t-comparison tbody tr")
    assert rows.count() == 2
    _assert_tables_fit(page)
    page.locator("#comparison").screenshot(path=str(SCREENSHOTS / "report-boston-2018-comparison.png"))
    page.locator("#survey").screenshot(path=str(SCREENSHOTS / "report-boston-2018-survey.png"))
    assert page.locator("#causal-warning").is_visible()
    page.close()


def test_report_prints_to_pdf(demo_reports, tmp_path):
    pdf = html_to_pdf(demo_reports["boston-2018"].files["html"], tmp_path / "report.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and data.count(b"/Type /Page") + data.count(b"/Type/Page") >= 3
