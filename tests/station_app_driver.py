"""Driving the station app (/station/) in Chromium: open it, sign in, save reports, read their status.

Shared by the station app's own browser tests and the live-stack dashboard test.
"""

from __future__ import annotations

import json
import re
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

PHONE = {"width": 390, "height": 844}
LOCAL_HOUR_NOW = 11  # a race that is running: its waves start 09:32-11:15 local
WAIT_MS = 30_000


def race_running_now(race_file: Path, folder: Path) -> Path:
    """A copy of `race_file` held today, in a fixed-offset zone where it is now about 11:00:
    a device's clock (the app stamps reports with it) lies in the race's window at any hour."""
    now = datetime.now(UTC)
    offset = now.hour - LOCAL_HOUR_NOW  # Etc/GMT+N is N hours behind UTC
    zone = f"Etc/GMT{offset:+d}" if offset else "Etc/GMT"
    local_day = (now.timestamp() - offset * 3600) // 86400
    date = datetime.fromtimestamp(local_day * 86400, UTC).date().isoformat()
    text = race_file.read_text()
    text = re.sub(r'^date = ".*"$', f'date = "{date}"', text, count=1, flags=re.M)
    text = re.sub(r'^timezone = ".*"$', f'timezone = "{zone}"', text, count=1, flags=re.M)
    text = re.sub(r'^(course|track) = "(.*)"$', lambda m: f'{m[1]} = "{(race_file.parent / m[2]).resolve()}"', text, flags=re.M)
    copy = Path(folder) / race_file.name
    copy.write_text(text)
    return copy


@contextmanager
def app_page(browser, url: str | None, viewport: dict = PHONE):
    """A fresh browser context (no stored reports, no service worker), with the station app open at `url`."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        if url is not None:
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
