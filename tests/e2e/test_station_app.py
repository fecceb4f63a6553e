"""The station app (/station/) in real Chromium against a real uvicorn intake with the Boston 2017 course.

Each test has its own browser context (its own IndexedDB, service worker and cache). Reports
are checked where they land: the intake's landing zone, and the warehouse after an ingest.
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
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

from racecramp import landing  # noqa: E402
from racecramp.landing.bulk import import_race, ingest_now  # noqa: E402
from racecramp.publish.snapshots import snapshot_path, write_snapshot  # noqa: E402

from apptest_helpers import TOKENS, free_port, race_env, running_intake  # noqa: E402
from browser import CHROMIUM_ARGS, SCREENSHOTS, TABLET  # noqa: E402
from paths import DATA  # noqa: E402
from station_app_driver import (  # noqa: E402
    PHONE,
    WAIT_MS,
    app_page,
    choose_station,
    device_reports,
    open_app,
    race_running_now,
    save_report,
    sign_in,
    statuses,
    wait_for_service_worker,
    wait_for_statuses,
    wait_until,
)

STATION_TOKEN = TOKENS["station:boston-2017:aid-16mi"]
COMMAND_TOKEN = TOKENS["command"]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """Settings with the Boston 2017 race and course imported and published, the race held today
    (the app stamps reports with the device's clock, which must lie in the race's window)."""
    root = tmp_path_factory.mktemp("station-app")
    with race_env(root) as settings:
        import_race(settings, race_running_now(DATA / "races" / "boston-2017.toml", root))
        yield settings


@pytest.fixture(scope="module")
def intake(course):
    """The real intake on a loopback port; yields its base URL."""
    with running_intake(course) as url:
        yield url


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


# ---- refused reports -------------------------------------------------------------------------


def sign_out(page) -> str:
    """Sign out through the station card dialog; returns what the dialog said about unsent reports."""
    page.click("#card-button")
    page.wait_for_selector("#card-dialog[open]")
    said = page.inner_text("#card-unsent")
    page.click("#sign-out")
    page.wait_for_selector("#signin:not([hidden])")
    return said


def test_a_403_is_shown_on_its_report_and_the_queue_goes_on_with_the_next(course, intake, browser):
    with app_page(browser, intake) as page:
        sign_in(page, COMMAND_TOKEN)
        choose_station(page, "aid-17mi")
        page.context.set_offline(True)
        for_aid17 = save_report(page, bib="9301")
        choose_station(page, "aid-16mi")
        for_aid16 = save_report(page, bib="9302")
        # The tablet changes hands: command signs out (offline), the mile-16 volunteer signs in.
        assert "2 reports have not been stored" in sign_out(page)
        assert "2 reports are on this device and not yet at the intake" in page.inner_text("#signin-waiting")
        page.context.set_offline(False)
        sign_in(page, STATION_TOKEN)
        wait_for_statuses(page, {for_aid17: "attention", for_aid16: "stored"})
        refused = page.locator(f".report[data-report-id='{for_aid17}']")
        assert "Needs attention" in refused.locator(".chip").inner_text()
        message = refused.locator(".report-message").inner_text()
        assert "403" in message and "aid-17mi" in message and "aid-16mi" in message
        assert refused.get_by_role("button", name="Send again").is_visible()
        assert "1 needs attention" in page.inner_text("#queue-summary")
    assert landed_count(course, [for_aid17, for_aid16]) == Counter({for_aid17: 0, for_aid16: 1})


@contextmanager
def station_moved(settings, point_id: str, km: float):
    """Medical command republishes the course with `point_id` at another km; restored afterwards."""
    path = snapshot_path(settings.snapshot_dir, "course_points")
    original = pl.read_parquet(path)
    write_snapshot(original.with_columns(pl.when(pl.col("point_id") == point_id).then(km).otherwise(pl.col("km")).alias("km")), path)
    try:
        yield
    finally:
        write_snapshot(original, path)


def test_a_422_is_shown_on_its_report_and_the_queue_goes_on_with_the_next(course, intake, browser):
    with app_page(browser, intake) as page:
        sign_in(page, COMMAND_TOKEN)
        choose_station(page, "aid-16mi")
        page.context.set_offline(True)
        stale_km = save_report(page, bib="9401", muscle="hamstring", severity="moderate")
        choose_station(page, "aid-17mi")
        fine = save_report(page, bib="9402")
        with station_moved(course, "aid-16mi", km=27.0):
            page.context.set_offline(False)
            wait_for_statuses(page, {stale_km: "attention", fine: "stored"})
        refused = page.locator(f".report[data-report-id='{stale_km}']")
        message = refused.locator(".report-message").inner_text()
        assert "422" in message and "km=25.75" in message and "aid-16mi at km 27" in message

        # The screenshots in docs/: a report of each status (a queued one written offline).
        page.context.set_offline(True)
        save_report(page, bib="9403", muscle="calf", severity="severe")
        page.wait_for_selector("#toast", state="hidden")
        page.evaluate("() => { document.activeElement.blur(); window.scrollTo(0, 0); }")
        page.screenshot(path=str(SCREENSHOTS / "station-app-phone.png"))
        page.evaluate("() => window.scrollTo(0, document.getElementById('queue-title').getBoundingClientRect().top + window.scrollY"
                      " - document.querySelector('.topbar').offsetHeight - 24)")
        page.screenshot(path=str(SCREENSHOTS / "station-app-phone-queue.png"))
        page.set_viewport_size(TABLET)
        page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=str(SCREENSHOTS / "station-app-tablet.png"))
        page.set_viewport_size(PHONE)
    assert landed_count(course, [stale_km, fine]) == Counter({stale_km: 0, fine: 1})


# ---- the app without the server ----------------------------------------------------------------


def test_the_service_worker_opens_the_app_with_the_intake_stopped(course, browser):
    settings = course.model_copy(update={"intake_port": free_port()})
    url = f"http://{settings.intake_host}:{settings.intake_port}"
    with app_page(browser, None) as page:
        with running_intake(settings):
            open_app(page, url)
            sign_in(page, STATION_TOKEN)
            wait_for_service_worker(page)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/station/", timeout=2)

        open_app(page, url)  # a page load with nothing listening on the port
        assert page.inner_text("#station-line").startswith("Aid mile 16")
        written = save_report(page, bib="9501")
        wait_for_statuses(page, {written: "sent"})  # tried, no answer: it stays in the queue
        other_tab = page.context.new_page()
        open_app(other_tab, url)
        assert other_tab.locator(f".report[data-report-id='{written}']").count() == 1
        other_tab.close()

        with running_intake(settings):  # the intake is back: the retry stores the report
            wait_for_statuses(page, {written: "stored"}, timeout_s=45)
    assert landed_count(course, [written]) == Counter({written: 1})


# ---- signing in ------------------------------------------------------------------------------


def test_sign_in_says_why_a_card_is_refused_and_keeps_the_token_out_of_the_url(intake, browser):
    with app_page(browser, intake) as page:
        page.click("#signin-submit")
        assert "Type the token" in page.inner_text("#signin-error")
        page.fill("#token", "not-a-real-token")
        page.click("#signin-submit")
        page.wait_for_selector("#signin-error:has-text('does not know this card')")
        page.screenshot(path=str(SCREENSHOTS / "station-app-sign-in.png"))
        page.fill("#token", TOKENS["station:boston-2017:aid-99mi"])
        page.click("#signin-submit")
        page.wait_for_selector("#signin-error:has-text('refused this card')")
        assert "aid-99mi" in page.inner_text("#signin-error") and "not an aid station or medical tent" in page.inner_text("#signin-error")
        page.fill("#token", TOKENS["feed:timing:boston-2017"])
        page.click("#signin-submit")
        page.wait_for_selector("#signin-error:has-text('feed:timing:boston-2017')")
        sign_in(page, STATION_TOKEN)
        assert page.inner_text("#station-line").startswith("Aid mile 16 \u00b7 km 25.8")
        assert STATION_TOKEN not in page.url


def test_a_card_revoked_while_signed_in_is_reported_and_its_reports_wait_for_the_next_sign_in(course, browser):
    settings = course.model_copy(update={"intake_port": free_port()})
    url = f"http://{settings.intake_host}:{settings.intake_port}"
    revoked = settings.model_copy(update={"token_hashes": {k: v for k, v in settings.token_hashes.items() if k != "station:boston-2017:aid-16mi"}})
    with app_page(browser, None) as page:
        with running_intake(settings):
            open_app(page, url)
            sign_in(page, STATION_TOKEN)
        with running_intake(revoked):
            page.reload()
            page.wait_for_selector("#token-banner:has-text('Station card refused')")
            waiting = save_report(page, bib="9601")
            page.wait_for_selector(f".report[data-report-id='{waiting}'] .report-message:has-text('sign in again')")
            assert statuses(page)[waiting] == "queued"  # not "needs attention": the report is fine, the card is not
            assert landed_count(course, [waiting]) == Counter({waiting: 0})
            page.click("#reauth")
            sign_in(page, COMMAND_TOKEN)
            wait_for_statuses(page, {waiting: "stored"})
            assert page.locator("#token-banner").is_hidden()
    assert landed_count(course, [waiting]) == Counter({waiting: 1})


# ---- the device clock -------------------------------------------------------------------------


def test_a_device_clock_ten_minutes_fast_is_warned_about_and_both_times_are_kept(course, intake, browser):
    context = browser.new_context(viewport=PHONE)
    try:
        fast_by = timedelta(minutes=10)
        context.clock.install(time=datetime.now(UTC) + fast_by)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        open_app(page, intake)
        sign_in(page, STATION_TOKEN)
        page.wait_for_selector("#clock-banner:has-text('about 10 min ahead of the intake')")
        written = save_report(page, bib="9701")
        wait_for_statuses(page, {written: "stored"})
    finally:
        context.close()
    (landed,) = [r for r in landed_reports(course) if r["report_id"] == written]
    # The report keeps the device's time; the landing envelope has the intake's own receive time.
    skew = utc(landed["reported_at_utc"]) - landed["_landed_at_utc"]
    assert timedelta(minutes=9) < skew < timedelta(minutes=11)


# ---- the camera (Chromium's fake camera shows a QR code; this Chromium has no BarcodeDetector, so ZXing reads it) ----

ZXING = REPO / "src" / "racecramp" / "intake" / "station_app" / "vendor" / "zxing-library-0.23.0.min.js"
FRAME_W, FRAME_H = 640, 480


def qr_modules(browser, text: str) -> list[str]:
    """The QR code of `text` as rows of '1' (dark) and '0', quiet zone included, drawn by the vendored ZXing."""
    page = browser.new_page()
    try:
        page.set_content("<html></html>")
        page.add_script_tag(path=str(ZXING))
        return page.evaluate(
            """text => { const m = new ZXing.QRCodeWriter().encode(text, ZXing.BarcodeFormat.QR_CODE, 0, 0, new Map());
              const rows = [];
              for (let y = 0; y < m.getHeight(); y++) { let row = ""; for (let x = 0; x < m.getWidth(); x++) row += m.get(x, y) ? "1" : "0"; rows.push(row); }
              return rows; }""",
            text,
        )
    finally:
        page.close()


def write_y4m(path: Path, modules: list[str]) -> None:
    """One grey-scale video frame (Y4M, 4:2:0) with the code centred, as a camera would see a card."""
    scale = min(FRAME_W, FRAME_H) * 3 // 4 // len(modules)
    size = scale * len(modules)
    left, top = (FRAME_W - size) // 2, (FRAME_H - size) // 2
    luma = bytearray(b"\xff" * (FRAME_W * FRAME_H))
    for y in range(size):
        row = modules[y // scale]
        for x in range(size):
            if row[x // scale] == "1":
                luma[(top + y) * FRAME_W + left + x] = 0
    chroma = b"\x80" * (FRAME_W * FRAME_H // 4)
    path.write_bytes(f"YUV4MPEG2 W{FRAME_W} H{FRAME_H} F10:1 Ip A1:1 C420jpeg\n".encode() + b"FRAME\n" + bytes(luma) + chroma + chroma)


@contextmanager
def camera_showing(browser, text: str, tmp_path: Path):
    """A second Chromium (same Playwright) whose camera sees the QR code of `text`."""
    video = tmp_path / f"camera-{uuid.uuid4().hex}.y4m"
    write_y4m(video, qr_modules(browser, text))
    args = [*CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}"]
    camera_browser = browser.browser_type.launch(executable_path=shutil.which("chromium"), args=args)
    try:
        yield camera_browser
    finally:
        camera_browser.close()


def test_the_station_card_qr_code_signs_in_and_a_bib_qr_code_fills_the_bib(course, intake, browser, tmp_path):
    with camera_showing(browser, STATION_TOKEN, tmp_path) as camera:
        with app_page(camera, intake) as page:
            page.click("#scan-card")
            page.wait_for_selector("#work:not([hidden])")  # read, then signed in without typing
            assert page.inner_text("#station-line").startswith("Aid mile 16")
            assert page.locator("#scanner").get_attribute("open") is None
    with camera_showing(browser, "9801", tmp_path) as camera:
        with app_page(camera, intake) as page:
            sign_in(page, STATION_TOKEN)
            page.click("#scan-bib")
            wait_until(page, "() => document.getElementById('bib').value === '9801'")
            written = save_report(page, bib="9801")
            wait_for_statuses(page, {written: "stored"})
    (landed,) = [r for r in landed_reports(course) if r["report_id"] == written]
    assert landed["bib"] == "9801"
