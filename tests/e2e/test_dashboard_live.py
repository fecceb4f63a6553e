"""The dashboard in a real browser on the real live stack (issue 6): Boston 2017 replayed
through the intake while the medical director watches.

`services.start_stack` (Prefect server, served ingest flow, uvicorn intake, Streamlit) on
fresh loopback ports with a token for every principal of the race; the race is imported,
the start list and pre-gun weather are sent, then the first ~2 h 20 min of the race (13:40
to 16:02 UTC, every wave started, the elites finished) is replayed at 110x through the
intake in a background thread while Debian Chromium (Playwright) watches the Command page
refresh itself. Then a drill: five reports at Aid mile 9 in ten minutes open a
station_load alert, the director acknowledges it on the page (dashboard -> intake ->
landing -> ingest -> snapshot), and a volunteer enters one report on the Station entry
page and sees it counted. Screenshots go to docs/screenshots/live-*.png.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import polars as pl
import pytest

from racecramp.publish.snapshots import read_snapshot
from racecramp.simulate import replay

from browser import DESKTOP, SCREENSHOTS, TABLET, full_screenshot, metric_text, open_page
from stack import replay_stack
from station_app_driver import app_page, save_report, sign_in, wait_for_statuses

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
playwright = pytest.importorskip("playwright.sync_api")

SEED = 20170417
LIVE_FROM = datetime(2017, 4, 17, 13, 40, tzinfo=UTC)  # 8 min after the first start, before the first 5K passing
LIVE_UNTIL = datetime(2017, 4, 17, 16, 2, tzinfo=UTC)  # first start + 2.5 h
SPEED = 110.0  # 142 race minutes in about 77 s
DRILL_STATION = "aid-09mi"  # km 14.5: few cramps expected there, none in the replayed part
DRILL_REPORTS = 5
ENTRY_STATION = "aid-20mi"
ACTING_AS = "command"  # no login configured: the intake records the command principal, never a typed name


@pytest.fixture(scope="module")
def source():
    return replay.load_shipped_source("boston-2017")


@pytest.fixture(scope="module")
def live(tmp_path_factory, source):
    """The whole stack with the dashboard, tokens for the race's principals, the command token in its env."""
    with replay_stack(tmp_path_factory.mktemp("live"), source, with_dashboard=True) as (settings, tokens):
        yield settings, tokens, f"http://{settings.dashboard_host}:{settings.dashboard_port}"


# --------------------------------------------------------------------------- helpers


def _screenshot(page, name: str) -> None:
    full_screenshot(page, SCREENSHOTS / f"live-{name}.png", settle_ms=1500)


def _metric(page, label: str) -> int | None:
    """The number shown in the st.metric with this label ('12,345' -> 12345; '—' or not drawn -> None)."""
    try:
        text = metric_text(page, label, timeout_ms=2000)
    except playwright.TimeoutError:  # not drawn (yet), or the fragment is redrawing it: the caller polls again
        return None
    digits = text.replace(",", "")
    return int(digits) if digits.isdigit() else None


def _poll(what: str, check, timeout_s: float, every_s: float = 1.0):
    """check() until it returns something truthy; fail naming `what` and the last value after the deadline."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every_s)
    raise AssertionError(f"{what}: not seen within {timeout_s:.0f} s (last: {last!r})")


def _snapshot(settings, table: str) -> pl.DataFrame | None:
    try:
        return read_snapshot(settings.snapshot_dir, table)
    except FileNotFoundError:
        return None


class ReplayThread(threading.Thread):
    """replay.run in the background; keeps its error for the test to raise."""

    def __init__(self, events, sender):
        super().__init__(daemon=True, name="replay")
        self.events, self.sender = events, sender
        self.error: BaseException | None = None
        self.wall_s: float | None = None

    def run(self) -> None:
        try:
            self.wall_s = replay.run(self.events, self.sender.send, SPEED)
        except BaseException as exc:  # re-raised in the test thread
            self.error = exc


# --------------------------------------------------------------------------- the scenario


def test_command_page_follows_a_live_replay_acknowledges_an_alert_and_counts_a_station_report(live, source, browser):
    settings, tokens, dashboard = live
    events = [e for e in replay.build_events(source, SEED) if e[0] <= LIVE_UNTIL]
    before_gun = [e for e in events if e[0] < LIVE_FROM]
    race = [e for e in events if e[0] >= LIVE_FROM]
    replay_reports = [r for _, kind, r in race if kind == "reports"]
    assert not [r for r in replay_reports if r["point_id"] == DRILL_STATION]  # the drill is the only load there

    assert replay.ensure_race_published(settings, source) is True
    sender = replay.IntakeSender(f"http://{settings.intake_host}:{settings.intake_port}", tokens)
    sender.check_tokens(events)
    sender.send(before_gun)  # the start list and the morning's weather, an hour before the gun
    started = time.monotonic()
    worker = ReplayThread(race, sender)
    worker.start()
    try:
        # --- 1. the Command page, opened once, follows the race on its own
        command = open_page(browser, dashboard, DESKTOP)
        command.evaluate("window.__openedOnce = true")  # gone if the page ever reloads
        first_on_course = _poll("a first runner on course", lambda: _metric(command, "Runners on course"), 60)
        first_total = _metric(command, "Total") or 0

        # the other pages while the race runs, each in its own tab
        course = open_page(browser, f"{dashboard}/course", DESKTOP)
        course.get_by_text("Cramp rate by station").first.wait_for()
        _screenshot(course, "course")
        rates = open_page(browser, f"{dashboard}/rates", DESKTOP)
        rates.get_by_text("By declared pace group").first.wait_for()
        _screenshot(rates, "rates")
        quality = open_page(browser, f"{dashboard}/data-quality", DESKTOP)
        quality.get_by_text("Landing backlog").first.wait_for()
        _screenshot(quality, "data-quality")
        runner = open_page(browser, f"{dashboard}/runner", DESKTOP)
        bib = replay_reports[0]["bib"]
        field = runner.get_by_label("Bib")
        field.fill(bib)
        field.press("Enter")
        field.blur()
        runner.get_by_text(f"Bib {bib}:").first.wait_for()
        _screenshot(runner, "runner")
        for page in (course, rates, quality, runner):
            assert page.locator('[data-testid="stException"]').count() == 0
            page.close()

        def risen():
            on_course, total = _metric(command, "Runners on course"), _metric(command, "Total")
            return (on_course, total) if on_course and total and on_course > first_on_course and total > first_total else None

        later_on_course, later_total = _poll("Runners on course and Total cramp reports rising", risen, 120)
        assert later_on_course > first_on_course and later_total > first_total
        # the elites reach Boylston Street about 2 h after their start: the screenshot shows the first finishers
        _poll("the first finishers", lambda: _metric(command, "Finishers"), 120)
        _screenshot(command, "command")

        worker.join(timeout=240)
        assert not worker.is_alive(), "the replay did not finish in 240 s"
        if worker.error is not None:
            raise worker.error
    finally:
        if worker.is_alive():
            worker.join(timeout=1)
        sender.close()
    assert dict(sender.sent) == dict(Counter(kind for _, kind, _ in events))
    replayed_s = time.monotonic() - started

    # --- 2. drill: a burst at Aid mile 9 opens a station_load alert; acknowledge it on the page
    clock = max(datetime.fromisoformat(r["passed_at_utc"]) for _, kind, r in race if kind == "passings")
    point = source.course.filter(pl.col("point_id") == DRILL_STATION).row(0, named=True)
    passed_nearby = [r["bib"] for _, kind, r in race if kind == "passings" and r["point_id"] == "mat-15k"]
    drill = [
        {"report_id": str(uuid.uuid4()), "race_id": source.race_id, "source": "aid_station", "point_id": DRILL_STATION,
         "km": point["km"], "bib": bib, "reported_at_utc": (clock - timedelta(minutes=2 * i)).isoformat(),
         "muscle_group": "calf", "severity": "moderate", "treatment": "stretch_massage",
         "disposition": "returned_to_race", "simulated": True}
        for i, bib in enumerate(passed_nearby[-DRILL_REPORTS:])
    ]
    answer = httpx.post(f"http://{settings.intake_host}:{settings.intake_port}/v1/reports", json={"reports": drill},
                        headers={"Authorization": f"Bearer {tokens[f'station:boston-2017:{DRILL_STATION}']}"}, timeout=30)
    assert answer.status_code == 202, answer.text

    def drill_alert():
        alerts = _snapshot(settings, "alerts")
        if alerts is None:
            return None
        hit = alerts.filter((pl.col("rule") == "station_load") & (pl.col("subject") == DRILL_STATION))
        return hit.row(0, named=True) if hit.height else None

    alert = _poll(f"a station_load alert for {DRILL_STATION} in the alerts snapshot", drill_alert, 90)
    assert alert["observed"] == DRILL_REPORTS and alert["status"] == "open"
    acknowledge = command.locator(f".st-key-ack-{alert['alert_id']} button")
    acknowledge.wait_for(timeout=30_000)  # the open alert appears without a reload
    assert acknowledge.is_enabled()
    acknowledge.click()
    command.get_by_text("acknowledge sent").first.wait_for()
    command.get_by_text(f"acknowledged by {ACTING_AS}").first.wait_for(timeout=90_000)
    assert not command.locator(f".st-key-ack-{alert['alert_id']} button").is_enabled()
    acknowledged = drill_alert()
    assert (acknowledged["status"], acknowledged["acknowledged_by"]) == ("acknowledged", ACTING_AS)
    _screenshot(command, "command-acknowledged")

    # every report sent so far is on the page: the replay's and the drill's
    expected_total = len(replay_reports) + DRILL_REPORTS
    _poll(f"Total = {expected_total}", lambda: _metric(command, "Total") == expected_total, 60)

    # --- 3. a volunteer enters one report in the station app; the Command page counts it.
    # A drill: the app stamps it on the replayed race's clock (GET /v1/station says where it is).
    # The runner has just passed the 30K mat, two km before Aid mile 20.
    entry_bib = [r["bib"] for _, kind, r in race if kind == "passings" and r["point_id"] == "mat-30k"][-1]
    intake_url = f"http://{settings.intake_host}:{settings.intake_port}"
    with app_page(browser, intake_url, TABLET) as station:
        sign_in(station, tokens[f"station:boston-2017:{ENTRY_STATION}"])
        station.get_by_text("Aid mile 20").first.wait_for()
        station.locator("#clock-banner", has_text="Drill").wait_for()
        report_id = save_report(station, entry_bib)
        wait_for_statuses(station, {report_id: "stored"})
        _screenshot(station, "station")

    _poll(f"Total = {expected_total + 1} after the station report", lambda: _metric(command, "Total") == expected_total + 1, 90)
    stored = _snapshot(settings, "cramp_reports").filter(pl.col("report_id").cast(pl.String) == report_id)
    assert stored.select("point_id", "bib").rows() == [(ENTRY_STATION, entry_bib)]
    assert command.evaluate("window.__openedOnce === true")  # the Command page never reloaded
    command.close()
    print(f"replay {worker.wall_s:.0f} s of {replayed_s:.0f} s live phase; retries {sender.retries}")
