"""Helpers for the browser tests: Debian Chromium driven by Playwright, full-page screenshots."""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from paths import REPO

SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
DESKTOP = {"width": 1440, "height": 1000}
TABLET = {"width": 820, "height": 1180}
RENDER_TIMEOUT_MS = 45_000
MAX_SCREENSHOT_HEIGHT = 5000


@contextmanager
def chromium() -> Iterator:
    """Debian's chromium (playwright cannot download browsers here); make test installs it."""
    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError("Debian chromium is not installed: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, url: str, viewport: dict):
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(RENDER_TIMEOUT_MS)
    page.goto(url)
    return page


def full_screenshot(page, path: Path, settle_ms: int = 2000) -> None:
    """Grow the window to the page's content (Streamlit scrolls inside the app), let Vega draw, save."""
    page.wait_for_load_state("networkidle")
    height = page.evaluate(
        "() => { const el = document.querySelector('[data-testid=\"stMainBlockContainer\"]');"
        " return el ? Math.ceil(el.getBoundingClientRect().height) + 120 : document.body.scrollHeight; }"
    )
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(height, MAX_SCREENSHOT_HEIGHT))})
    page.wait_for_timeout(settle_ms)
    page.screenshot(path=str(path))


def metric_locator(page, label: str):
    """The st.metric whose label is exactly `label` ('Finishers', not 'Cases per 1000 finishers')."""
    label_text = page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    return page.get_by_test_id("stMetric").filter(has=label_text).first


def metric_text(page, label: str, timeout_ms: float | None = None) -> str:
    """The value shown in the st.metric labelled `label`, as drawn ('12,345', '—')."""
    return metric_locator(page, label).get_by_test_id("stMetricValue").inner_text(timeout=timeout_ms).strip()
