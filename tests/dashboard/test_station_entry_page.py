"""Station entry (AppTest + the real intake): token picks the station, a double tap stores once."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from racecramp import landing
from racecramp.landing.bulk import ingest_now

from apptest_helpers import metric, open_page, running_intake


def _landed_reports(settings) -> list[dict]:
    records = []
    for batch in landing.list_batches(settings.landing_dir, kinds=["reports"]):
        rows, _source, _at = landing.read_batch(batch)
        records.extend(rows if isinstance(rows, list) else rows.to_dicts())
    return records


def _open_station(token: str):
    at = open_page("pages/station_entry.py")
    at.text_input(key="token_entry").input(token)
    at.button[0].click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _send(at):
    [send] = [b for b in at.button if b.label == "Send report"]
    send.click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _stored_id(at) -> str:
    [ok] = [s.value for s in at.success if "Report stored" in s.value]
    return ok.split("`")[1]


def test_a_token_that_is_not_a_station_token_opens_nothing(small):
    at = _open_station("tok-timing")
    assert any("not a station token" in e.value for e in at.error)
    assert not [b for b in at.button if b.label == "Send report"]


def test_station_token_opens_its_own_station_with_defaults(small):
    at = _open_station("tok-aid16")
    assert at.header[0].value == "Aid mile 16 · 25.8 km"
    assert at.segmented_control(key="muscle-0").value == "calf"
    assert at.segmented_control(key="severity-0").value == "mild"
    assert at.segmented_control(key="disposition-0").value == "returned_to_race"


def test_a_double_tap_stores_one_report_with_the_confirmed_id(small):
    before = len(_landed_reports(small))
    with running_intake(small):
        at = _open_station("tok-aid16")
        at.text_input(key="bib-0").input("106")
        at.segmented_control(key="muscle-0").set_value("hamstring")
        at = _send(at)
        report_id = _stored_id(at)
        at = _send(at)  # the second tap of a double tap: the same report goes again
        assert _stored_id(at) == report_id
        assert any("stored once" in s.value for s in at.success)
    new = _landed_reports(small)[before:]
    assert [(r["report_id"], r["bib"], r["point_id"], r["km"], r["muscle_group"], r["source"]) for r in new] == [
        (report_id, "106", "aid-16mi", 25.75, "hamstring", "aid_station")
    ]
    # The replayed race's clock is 16:40 UTC, far behind the wall clock: the report is stamped on it.
    assert datetime.fromisoformat(new[0]["reported_at_utc"]) == datetime.fromisoformat("2017-04-17T16:40:00+00:00")


def test_retry_after_the_intake_was_down_resends_the_same_id(small):
    before = len(_landed_reports(small))
    at = _open_station("tok-aid16")
    at.text_input(key="bib-0").input("107")
    at = _send(at)
    assert any("Not stored yet" in e.value for e in at.error)
    with running_intake(small):
        at = _send(at)
        first_id = _stored_id(at)
        [next_runner] = [b for b in at.button if b.label == "Next runner"]
        next_runner.click().run()
        at.text_input(key="bib-1").input("107")
        at = _send(at)
        second_id = _stored_id(at)
    assert first_id != second_id, "Next runner starts a new report"
    assert [r["report_id"] for r in _landed_reports(small)[before:]] == [first_id, second_id]


def test_command_token_chooses_the_station_and_the_report_is_counted(small):
    with running_intake(small):
        at = _open_station("tok-command")
        at.selectbox(key="station_point").select("aid-22mi").run()
        assert at.header[0].value == "Aid mile 22 · 35.4 km"
        at.text_input(key="bib-0").input("104")
        at = _send(at)
        report_id = _stored_id(at)
    ingest_now(small)
    at = open_page()
    reports = pl.read_parquet(small.snapshot_dir / "cramp_reports.parquet")
    assert reports.height >= 9
    # Stamped 16:40 on the race clock, so it is one of the reports of the last 15 minutes.
    last_15 = int(metric(at, "Last 15 min").value)
    assert last_15 >= 4 and report_id in _ids(reports)


def _ids(reports: pl.DataFrame) -> set[str]:
    from racecramp.publish.snapshots import normalise_snapshot

    return set(normalise_snapshot(reports)["report_id"].to_list())
