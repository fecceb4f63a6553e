"""The station app (/station/) in real Chromium against a real uvicorn intake with the Boston 2017 course.

Each test has its own browser context (its own IndexedDB, service worker and cache). Reports
are checked where they land: the intake's landing zone, and the warehouse after an ingest.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import polars as pl
import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "dashboard"))

from apptest_helpers import TOKENS, free_port, race_env, running_intake  # noqa: E402
from browser import SCREENSHOTS, TABLET  # noqa: E402
from paths import DATA  # noqa: E402

from racecramp import landing  # noqa: E402
from racecramp.landing.bulk import import_race, ingest_now  # noqa: E402
from racecramp.publish import snapshot_path, write_snapshot  # noqa: E402

PHONE = {"width": 390, "height": 844}
STATION_TOKEN = TOKENS["station:aid-16mi"]
COMMAND_TOKEN = TOKENS["command"]
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """Settings with the Boston 2017 race and course imported and published."""
    root = tmp_path_factory.mktemp("station-app")
    with race_env(root) as settings:
        import_race(settings, DATA / "races" / "boston-2017.toml")
        yield settings


@pytest.fixture(scope="module")
def intake(course):
    """The real intake on a loopback port; yields its base URL."""
    with running_intake(course) as url:
        yield url


@contextmanager
def app_page(browser, url: str, viewport: dict = PHONE):
    """A fresh browser context (no stored reports, no service worker) with the station app open."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        open_app(page, url)
        yield page
        assert errors == [], f"the page raised: {errors}"
    finally:
        context.close()


def open_app(page, url: str) -> None:
    page.goto(f"{url}/station/")
    page.wait_for_selector("body[data-ready=true]")


def sign_in(page, token: str) -> None:
    page.fill("#token", token)
    page.click("#signin-submit")
    page.wait_for_selector("#work:not([hidden])")


def wait_until(page, function: str, arg=None, timeout_s: float = WAIT_MS / 1000) -> None:
    """Poll `function(arg)` in the page until it is true (the page's CSP forbids wait_for_function's eval)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(function, arg):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout_s:.0f} s: {function} with {arg!r}")
        page.wait_for_timeout(100)


def wait_for_service_worker(page) -> None:
    """The service worker is active and controls the page (the shell is in its cache)."""
    wait_until(page, "() => navigator.serviceWorker.controller !== null")


def choose_station(page, point_id: str) -> None:
    label = page.eval_on_selector(f"#station-select option[value={json.dumps(point_id)}]", "o => o.textContent")
    page.select_option("#station-select", point_id)
    wait_until(page, "label => document.getElementById('station-line').textContent.startsWith(label)", label)


def save_report(page, bib: str | None, muscle: str = "calf", severity: str = "mild") -> str:
    """Fill and save one report; returns its report_id (the newest report on the device)."""
    count = page.locator(".report").count()
    page.fill("#bib", bib or "")
    page.locator(".choices-muscle_group .tile", has_text=muscle).click()
    page.locator(".choices-severity .tile", has_text=severity).click()
    page.click("#save-report")
    wait_until(page, "n => document.querySelectorAll('.report').length === n", count + 1)
    return page.locator(".report").first.get_attribute("data-report-id")


def statuses(page) -> dict[str, str]:
    """report_id -> status as shown on each report."""
    return page.eval_on_selector_all(".report", "items => Object.fromEntries(items.map(i => [i.dataset.reportId, i.dataset.status]))")


def wait_for_statuses(page, wanted: dict[str, str], timeout_s: float = WAIT_MS / 1000) -> None:
    wait_until(
        page,
        "wanted => Object.entries(wanted).every(([id, status]) =>"
        " document.querySelector(`.report[data-report-id='${id}']`)?.dataset.status === status)",
        wanted, timeout_s,
    )


def device_reports(page) -> dict[str, dict]:
    """report_id -> the request body the device keeps (and sends) for it."""
    return page.evaluate("StationQueue.allReports().then(rs => Object.fromEntries(rs.map(r => [r.report_id, JSON.parse(r.body)])))")


def landed_reports(settings) -> list[dict]:
    """Every report record in the landing zone, with its envelope's landing time."""
    rows = []
    for batch in landing.list_batches(settings.landing_dir, kinds=["reports"]):
        records, _source, landed_at = landing.read_batch(batch)
        rows.extend({**record, "_landed_at_utc": landed_at} for record in records)
    return rows


def landed_count(settings, report_ids) -> Counter:
    counts = Counter(r["report_id"] for r in landed_reports(settings))
    return Counter({rid: counts[rid] for rid in report_ids})


def warehouse_reports(settings, report_ids) -> pl.DataFrame:
    """The published cramp_reports rows of these reports, after an ingest."""
    ingest_now(settings)
    table = pl.read_parquet(snapshot_path(settings.snapshot_dir, "cramp_reports"))
    return table.filter(pl.col("report_id").cast(pl.String).is_in(list(report_ids)))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---- offline, reload, network back ------------------------------------------------------------


def test_five_reports_written_offline_reach_the_warehouse_once_with_their_device_times(course, intake, browser):
    with app_page(browser, intake) as page:
        sign_in(page, STATION_TOKEN)
        wait_for_service_worker(page)
        page.context.set_offline(True)
        before = datetime.now(UTC)
        ids = [save_report(page, bib=str(9100 + i), muscle=m) for i, m in enumerate(["calf", "hamstring", "foot", "calf", "hip"])]
        after = datetime.now(UTC)
        assert set(statuses(page).values()) == {"queued"}
        assert page.locator("#net").inner_text().startswith("Offline")

        page.reload()  # still offline: the service worker serves the app, IndexedDB still has the queue
        page.wait_for_selector("body[data-ready=true]")
        assert statuses(page) == {rid: "queued" for rid in ids}
        bodies = device_reports(page)
        assert landed_count(course, ids) == Counter({rid: 0 for rid in ids})

        back_online = datetime.now(UTC)
        page.context.set_offline(False)
        wait_for_statuses(page, {rid: "stored" for rid in ids})

    assert landed_count(course, ids) == Counter({rid: 1 for rid in ids})
    landed = {r["report_id"]: r for r in landed_reports(course) if r["report_id"] in ids}
    for rid in ids:
        device_time = utc(bodies[rid]["reported_at_utc"])
        assert before - timedelta(seconds=1) <= device_time <= after + timedelta(seconds=1)
        assert utc(landed[rid]["reported_at_utc"]) == device_time  # the device's time, not the intake's
        assert landed[rid]["_landed_at_utc"] >= back_online - timedelta(seconds=1)
    rows = warehouse_reports(course, ids)
    assert rows.height == 5 and rows["report_id"].n_unique() == 5
    for rid, bib, at in rows.select(pl.col("report_id").cast(pl.String), "bib", "reported_at_utc").iter_rows():
        assert bib == bodies[rid]["bib"]
        assert (at if at.tzinfo else at.replace(tzinfo=UTC)) == utc(bodies[rid]["reported_at_utc"])


# ---- lost answers ---------------------------------------------------------------------------


def test_answers_lost_on_the_way_back_are_resent_and_stored_once(course, intake, browser):
    with app_page(browser, intake) as page:
        sign_in(page, STATION_TOKEN)
        wait_for_service_worker(page)
        seen: list[str] = []
        lock = threading.Lock()

        def drop_first_two_answers(route):
            """The request reaches the intake (which stores it); its answer is thrown away twice per report."""
            body = json.loads(route.request.post_data)
            response = route.fetch()
            with lock:
                seen.append(body["report_id"])
                dropped = seen.count(body["report_id"]) <= 2
            if dropped:
                assert response.status == 202
                route.abort("connectionreset")
            else:
                route.fulfill(response=response)

        page.route("**/v1/reports", drop_first_two_answers)
        first = save_report(page, bib="9201")
        second = save_report(page, bib="9202", muscle="quadriceps")
        page.wait_for_selector(f".report[data-report-id='{first}'][data-status=sent]")
        wait_for_statuses(page, {first: "stored", second: "stored"})
        bodies = device_reports(page)

    assert Counter(seen) == Counter({first: 3, second: 3})
    assert landed_count(course, [first, second]) == Counter({first: 1, second: 1})
    landed = {r["report_id"]: r for r in landed_reports(course) if r["report_id"] in (first, second)}
    for rid in (first, second):
        assert landed[rid]["bib"] == bodies[rid]["bib"]
        assert utc(landed[rid]["reported_at_utc"]) == utc(bodies[rid]["reported_at_utc"])
