"""A hand-built 10 km race, 24 runners, whose every rate and station-load row is worked out by hand;
the same race through a bulk import and through the intake gives the same marts.

All times UTC; the single wave starts at 14:00 and every runner crosses the line with the gun
(passed_at = 14:00 + net time). Course: aid-03k (3 km), mat-05k (5), finish (10), med-finish (10, tent).
  A  bibs 1-8    5K 1650 s (330 s/km)  finish 3600 s   aid-03k at 14:16:30, finish 15:00
  B  bibs 9-16   5K 1950 s (390 s/km)  finish 3900 s   aid-03k at 14:19:30, finish 15:05
  C  bibs 17-20  5K 2400 s (480 s/km)  finish 4800 s   aid-03k at 14:24:00, finish 15:20
  D  bibs 21-24  5K 1650 s, then stop (DNF rows: the roster holds starters)
  odd bibs M, even F; bibs 1-12 aged 35 (30-39), 13-24 aged 45 (40-49); nobody declared a time.
Reports (R1..R8), as a station would send them:
  R1  aid_station aid-03k km 3  bib 1   14:20     R1 again, same contents (a retry: a no-op)
  R1' the same report_id with another severity (a changed retry: quarantined / 409)
  R2  aid_station aid-03k no km bib 9   14:25     (takes the station's 3 km)
  R3  finish_tent med-finish km 10 bib 2 15:02
  R4  finish_tent med-finish km 10 no bib 15:05
  R5  aid_station no station, no km, bib 21, 14:30 (the `km unknown` row)
  R6  survey (a self-report) no station, km 7, bib 3, 16:00 (counts in no rate)
  R7  aid_station aid-03k km 3 bib 10 14:33
  R8  finish_tent med-finish km 10 bib 17 15:25
No weather feed is configured and none reported: no stale-weather alert, every minute "no weather".
Wilson 95% bounds per 1000 (textbook formula, z = 1.959964): 3/24 [43.44, 310.04], 0/24 [0, 137.98],
3/20 [52.37, 360.42], 2/6 [96.77, 700.01], 0/6 [0, 390.33], 6/24 [119.99, 448.99], 3/12 [88.94, 532.31],
2/8 [71.48, 590.72], 1/4 [45.59, 699.36]. Garwood 95% bounds for 7 events: [2.8143, 14.4227].
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from fastapi.testclient import TestClient

from racecramp import landing
from racecramp.config import hash_token, load_settings
from racecramp.intake import create_app
from racecramp.landing.bulk import ingest_now
from racecramp.landing.kinds import WAVE_DTYPE
from racecramp.publish.snapshots import read_snapshot
from racecramp.warehouse.sql import query
from racecramp.warehouse.writer import open_writer

RACE = "hand-2025"
T0 = datetime(2025, 4, 21, 14, 0, tzinfo=UTC)
COMMAND_TOKEN = "tok-command-hand"
GROUPS = {"A": (range(1, 9), 1650.0, 3600.0), "B": (range(9, 17), 1950.0, 3900.0),
          "C": (range(17, 21), 2400.0, 4800.0), "D": (range(21, 25), 1650.0, None)}
RATE_MARTS = ("cramp_rate_by_distance", "cramp_rate_by_station", "cramp_rate_by_pace_group", "cramp_rate_by_wbgt",
              "cramp_rate_by_sex_age", "station_load_15m")


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def rid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def report(n: int, source: str, point_id: str | None, km: float | None, bib: str | None, minutes: float,
           severity: str = "mild") -> dict:
    body = {"report_id": rid(n), "race_id": RACE, "source": source, "point_id": point_id, "km": km, "bib": bib,
            "reported_at_utc": at(minutes), "muscle_group": "calf", "severity": severity,
            "treatment": "stretch_massage", "disposition": "returned_to_race"}
    return {k: v for k, v in body.items() if v is not None}


R1 = report(1, "aid_station", "aid-03k", 3.0, "1", 20)
R1_CHANGED = {**R1, "severity": "severe"}
REPORTS = [
    R1, R1,
    report(2, "aid_station", "aid-03k", None, "9", 25),
    report(3, "finish_tent", "med-finish", 10.0, "2", 62),
    report(4, "finish_tent", "med-finish", 10.0, None, 65),
    report(5, "aid_station", None, None, "21", 30),
    report(6, "survey", None, 7.0, "3", 120),
    report(7, "aid_station", "aid-03k", 3.0, "10", 33),
    report(8, "finish_tent", "med-finish", 10.0, "17", 85),
]


def land_race(settings) -> None:
    races = pl.DataFrame({
        "race_id": [RACE], "name": ["Hand-built 10K"], "date": [date(2025, 4, 21)], "timezone": ["America/New_York"],
        "distance_km": [10.0], "start_waves": [[{"wave": 1, "start_utc": T0, "bib_from": None, "bib_to": None,
                                                 "bib_prefix": None}]],
        "course_time_limit_s": [6 * 3600.0],
    }, schema_overrides={"start_waves": WAVE_DTYPE})
    landing.append_frame(settings.landing_dir, "races", races, source="hand.toml")
    points = [("aid-03k", "aid_station", 3.0), ("mat-05k", "timing_mat", 5.0), ("finish", "finish", 10.0),
              ("med-finish", "medical_tent", 10.0)]
    landing.append_records(settings.landing_dir, "course_points", [
        {"race_id": RACE, "point_id": p, "kind": k, "km": km, "label": p} for p, k, km in points], source="hand.toml")
    ingest_now(settings)
    people, passings = [], []
    for bibs, five_k, finish in GROUPS.values():
        for bib in bibs:
            people.append({"race_id": RACE, "bib": str(bib), "sex": "M" if bib % 2 else "F", "age": 35 if bib <= 12 else 45,
                           "wave": 1, "finished": finish is not None, "official_time_s": finish, "simulated": False})
            for point, km, net in (("mat-05k", 5.0, five_k), ("finish", 10.0, finish)):
                if net is not None:
                    passings.append({"race_id": RACE, "bib": str(bib), "point_id": point, "km": km, "net_time_s": net,
                                     "passed_at_utc": (T0 + timedelta(seconds=net)).isoformat(), "simulated": False})
    landing.append_records(settings.landing_dir, "participants", people, source="roster.csv")
    landing.append_records(settings.landing_dir, "passings", passings, source="timing.csv")
    ingest_now(settings)


@pytest.fixture(scope="module")
def race_template(tmp_path_factory):
    root = tmp_path_factory.mktemp("hand-race") / "var"
    land_race(load_settings(data_dir=root))
    return root


def settings_from(template, tmp_path):
    shutil.copytree(template, tmp_path / "var")
    return load_settings(data_dir=tmp_path / "var", token_hashes={"command": hash_token(COMMAND_TOKEN)})


@pytest.fixture(scope="module")
def bulk(race_template, tmp_path_factory):
    settings = settings_from(race_template, tmp_path_factory.mktemp("bulk"))
    landing.append_records(settings.landing_dir, "reports", REPORTS + [R1_CHANGED], source="tent-log.csv")
    summary = ingest_now(settings)
    return settings, summary


@pytest.fixture(scope="module")
def via_intake(race_template, tmp_path_factory):
    settings = settings_from(race_template, tmp_path_factory.mktemp("intake"))
    headers = {"Authorization": f"Bearer {COMMAND_TOKEN}"}
    answers = []
    with TestClient(create_app(settings)) as client:
        for body in REPORTS + [R1_CHANGED]:
            answers.append(client.post("/v1/reports", json=body, headers=headers))
    ingest_now(settings)
    return settings, answers


def marts(settings) -> dict[str, pl.DataFrame]:
    return {name: read_snapshot(settings.snapshot_dir, name).filter(pl.col("race_id") == RACE) for name in RATE_MARTS}


def rows(frame: pl.DataFrame, *keys: str) -> dict:
    return {tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]: r for r in frame.iter_rows(named=True)}


def check(row: dict, cases: int, runners: int, rate: float | None, low: float | None = None, high: float | None = None) -> None:
    assert (row["cases"], row["runners"]) == (cases, runners), row
    if rate is None:
        assert row["rate_per_1000"] is None
        return
    assert row["rate_per_1000"] == pytest.approx(rate, abs=0.01)
    assert row["ci_low_per_1000"] == pytest.approx(low, abs=0.01)
    assert row["ci_high_per_1000"] == pytest.approx(high, abs=0.01)


# --------------------------------------------------------------------------- the retry rule and the km fallback


def test_a_bulk_import_stores_a_retry_once_and_quarantines_a_changed_retry_with_the_reason(bulk):
    settings, summary = bulk
    assert summary.quarantined == 1
    with open_writer(settings.warehouse_path) as con:
        stored = query(con, f"SELECT CAST(report_id AS VARCHAR) AS report_id, severity, point_id, km FROM cramp_reports "
                            f"WHERE race_id = '{RACE}' ORDER BY report_id")
        quarantined = query(con, "SELECT \"check\", message FROM quarantine")
    assert stored["report_id"].to_list() == [rid(n) for n in range(1, 9)]
    assert stored.row(0) == (rid(1), "mild", "aid-03k", 3.0)  # the first copy stays: never overwritten
    assert stored.filter(pl.col("report_id") == rid(2))["km"].item() == 3.0  # the station's km
    assert stored.filter(pl.col("report_id") == rid(5)).select("point_id", "km").row(0) == (None, None)
    assert quarantined["check"].to_list() == ["report_id_retry"]
    assert f"report_id={rid(1)}: already received with different contents (row 1 of the batch)" in quarantined["message"].item()


def test_resending_a_stored_report_is_a_no_op_and_changing_it_later_is_quarantined_too(bulk, tmp_path):
    settings = settings_from(bulk[0].data_dir, tmp_path)
    landing.append_records(settings.landing_dir, "reports", [R1], source="tent-log-again.csv")
    again = ingest_now(settings)
    assert (again.accepted, again.quarantined) == (0, 0)
    landing.append_records(settings.landing_dir, "reports", [R1_CHANGED], source="tent-log-edited.csv")
    changed = ingest_now(settings)
    assert (changed.accepted, changed.quarantined) == (0, 1)
    with open_writer(settings.warehouse_path) as con:
        message = query(con, "SELECT message FROM quarantine ORDER BY landed_at_utc DESC LIMIT 1")["message"].item()
        severity = query(con, f"SELECT severity FROM cramp_reports WHERE CAST(report_id AS VARCHAR) = '{rid(1)}'").item()
    assert "already received with different contents (stored)" in message and severity == "mild"


def test_the_intake_answers_a_retry_with_the_same_report_and_a_changed_retry_with_409(via_intake):
    _, answers = via_intake
    assert [a.status_code for a in answers] == [202] * 9 + [409]
    assert answers[1].json() == answers[0].json()  # the same request again: the same answer, nothing landed
    assert "already received with different contents" in answers[-1].json()["detail"]


# --------------------------------------------------------------------------- every mart row by hand


def test_distance_rows_by_hand(bulk):
    out = rows(marts(bulk[0])["cramp_rate_by_distance"], "segment")
    assert list(out) == ["0–5", "5–finish", "finish/after", "km unknown"]
    check(out["0–5"], 3, 24, 125.0, 43.44, 310.04)  # bibs 1, 9 (km from its station), 10
    check(out["5–finish"], 0, 24, 0.0, 0.0, 137.98)
    check(out["finish/after"], 3, 20, 150.0, 52.37, 360.42)  # bibs 2, 17 and the report without a bib
    check(out["km unknown"], 1, 0, None)  # bib 21: no station, no km
    assert set(out["0–5"][c] for c in ("denominator_kind", "rate_unit")) == {"starters who entered the segment",
                                                                              "per 1000 starters"}


def test_station_rows_by_hand(bulk):
    out = rows(marts(bulk[0])["cramp_rate_by_station"], "point_id")
    assert list(out) == ["aid-03k", "med-finish"]
    check(out["aid-03k"], 3, 24, 125.0, 43.44, 310.04)
    check(out["med-finish"], 3, 20, 150.0, 52.37, 360.42)


def test_pace_rows_by_hand(bulk):
    pace = marts(bulk[0])["cramp_rate_by_pace_group"]
    for grouping in ("declared_pace", "relative_pace"):  # nobody declared a time
        part = rows(pace.filter(pl.col("grouping") == grouping), "pace_group")
        check(part["undeclared"], 6, 24, 250.0, 119.99, 448.99)  # bibs 1, 2, 9, 10, 17, 21 (not the survey's bib 3)
        assert sum(r["runners"] for r in part.values()) == 24
    early = rows(pace.filter(pl.col("grouping") == "early_pace"), "pace_group")
    check(early["5:30–6:00"], 3, 12, 250.0, 88.94, 532.31)  # A and D at 330 s/km: bibs 1, 2, 21
    check(early["6:00–7:00"], 2, 8, 250.0, 71.48, 590.72)  # B at 390: bibs 9, 10
    check(early["≥7:00"], 1, 4, 250.0, 45.59, 699.36)  # C at 480: bib 17
    assert all(early[g]["runners"] == 0 for g in early if g not in ("5:30–6:00", "6:00–7:00", "≥7:00"))


def test_sex_age_rows_by_hand(bulk):
    out = rows(marts(bulk[0])["cramp_rate_by_sex_age"], "sex", "age_band")
    check(out[("M", "30-39")], 2, 6, 333.33, 96.77, 700.01)  # bibs 1, 9
    check(out[("F", "30-39")], 2, 6, 333.33, 96.77, 700.01)  # bibs 2, 10
    check(out[("M", "40-49")], 2, 6, 333.33, 96.77, 700.01)  # bibs 17, 21
    check(out[("F", "40-49")], 0, 6, 0.0, 0.0, 390.33)
    assert len(out) == 4


def test_wbgt_rows_by_hand(bulk):
    out = rows(marts(bulk[0])["cramp_rate_by_wbgt"], "wbgt_flag")
    assert list(out) == ["white", "green", "yellow", "red", "black", "no weather"]
    # runner-hours: A 8 x 60 min, B 8 x 65, C 4 x 80, D 4 x 27.5 (to their 5K) = 1430 min
    hours = 1430 / 60
    row = out["no weather"]
    assert (row["cases"], row["runners"]) == (7, 24) and row["runner_hours"] == pytest.approx(hours)
    assert row["rate_per_1000"] == pytest.approx(7 / hours * 1000)
    assert row["ci_low_per_1000"] == pytest.approx(2.8143 / hours * 1000, abs=0.05)
    assert row["ci_high_per_1000"] == pytest.approx(14.4227 / hours * 1000, abs=0.05)
    assert row["rate_unit"] == "per 1000 runner-hours"
    assert all(out[f]["runner_hours"] == 0 and out[f]["cases"] == 0 for f in ("white", "green", "yellow", "red", "black"))


def test_station_load_rows_by_hand(bulk):
    out = rows(marts(bulk[0])["station_load_15m"], "point_id", "bucket_start_utc")
    quarter = lambda m: T0 + timedelta(minutes=m)  # noqa: E731
    assert len(out) == 10  # 2 stations x 5 quarter hours, 14:15 .. 15:15
    # aid-03k: 3 cases over 24 passing runners (all in 14:15-14:30): expected 24 x 3/24 = 3
    expected = {("aid-03k", 15): (2, 24, 3.0, 0.800852), ("aid-03k", 30): (1, 0, 0.0, 0.0),
                ("med-finish", 60): (2, 16, 2.4, 0.691559), ("med-finish", 75): (1, 4, 0.6, 0.451188)}
    for (point, start), row in out.items():
        key = (point, int((start - T0).total_seconds() // 60))
        observed, runners, mean, p = expected.get(key, (0, 0, 0.0, 1.0))
        assert (row["observed"], row["runners_passed"]) == (observed, runners), key
        assert row["expected"] == pytest.approx(mean) and row["p_exceed"] == pytest.approx(p, abs=1e-5), key
    assert out[("aid-03k", quarter(15))]["bucket_complete"] is True


def test_no_stale_weather_alert_for_a_race_without_a_weather_feed(bulk):
    alerts = read_snapshot(bulk[0].snapshot_dir, "alerts")
    assert alerts.filter(pl.col("rule") == "stale_weather").is_empty()


def test_a_configured_weather_feed_that_never_reported_after_the_start_is_alerted(race_template, tmp_path):
    """The publisher tells the marts a feed is configured (Settings.weather_url): no weather at all is then stale."""
    settings = settings_from(race_template, tmp_path).model_copy(update={"weather_url": "http://127.0.0.1:9/forecast"})
    ingest_now(settings)
    alerts = read_snapshot(settings.snapshot_dir, "alerts")
    assert alerts.filter(pl.col("rule") == "stale_weather").height == 1


# --------------------------------------------------------------------------- bulk and intake agree


def stored_reports(settings) -> pl.DataFrame:
    with open_writer(settings.warehouse_path) as con:
        return query(con, "SELECT CAST(report_id AS VARCHAR) AS report_id, source, point_id, km, bib, severity "
                          f"FROM cramp_reports WHERE race_id = '{RACE}' ORDER BY report_id")


def test_the_intake_stores_the_same_reports_as_the_bulk_import(bulk, via_intake):
    assert stored_reports(via_intake[0]).equals(stored_reports(bulk[0]))  # R2 with its station's km, R1 as first sent


def test_the_same_race_through_the_intake_gives_the_same_marts(bulk, via_intake):
    by_bulk, by_intake = marts(bulk[0]), marts(via_intake[0])
    for name in RATE_MARTS:
        assert by_bulk[name].height > 0, name
        # floats within 1e-9: person-time is summed per minute in whatever order the engine groups them
        assert_frame_equal(by_intake[name], by_bulk[name], check_exact=False, rel_tol=1e-9, abs_tol=1e-9)
