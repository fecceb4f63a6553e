"""racecramp.views on small hand-made frames: clocks, KPI windows, WBGT, alerts, freshness, snapshots."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from racecramp import views as dd
from racecramp.config import hash_token
from racecramp.publish.snapshots import write_snapshot
from racecramp.marts.alerts import ALERT_SCHEMA

T = pl.Datetime("us", "UTC")
NOW = datetime(2017, 4, 17, 16, 40, tzinfo=UTC)
RACE = "boston-2017"


def reports(rows: list[tuple]) -> pl.DataFrame:
    """(report_id, bib, minutes before NOW, source)."""
    return pl.DataFrame(
        {
            "report_id": [r[0] for r in rows], "race_id": [RACE] * len(rows), "source": [r[3] for r in rows],
            "simulated": [False] * len(rows), "point_id": ["aid-20mi"] * len(rows), "km": [32.187] * len(rows),
            "bib": [r[1] for r in rows], "reported_at_utc": [NOW - timedelta(minutes=r[2]) for r in rows],
        },
        schema_overrides={"reported_at_utc": T, "bib": pl.String},
    )


def participants(n: int) -> pl.DataFrame:
    return pl.DataFrame({"race_id": [RACE] * n, "bib": [str(i) for i in range(n)], "simulated": [False] * n})


# --------------------------------------------------------------------------- race clock


def test_race_clock_is_the_latest_report_or_passing():
    passings = pl.DataFrame({"passed_at_utc": [NOW - timedelta(minutes=3)]}, schema={"passed_at_utc": T})
    assert dd.race_clock(reports([("a", "1", 7, "aid_station")]), passings, NOW + timedelta(days=3000)) == NOW - timedelta(minutes=3)


def test_race_clock_never_runs_ahead_of_the_wall_clock():
    future = pl.DataFrame({"passed_at_utc": [NOW + timedelta(hours=2)]}, schema={"passed_at_utc": T})
    assert dd.race_clock(None, future, NOW) == NOW


def test_race_clock_is_unknown_before_any_event():
    assert dd.race_clock(None, pl.DataFrame(schema={"passed_at_utc": T}), NOW) is None


def test_race_clock_rejects_a_naive_wall_clock():
    with pytest.raises(ValueError, match="wall_now_utc"):
        dd.race_clock(None, None, datetime(2017, 4, 17, 16, 40))


# --------------------------------------------------------------------------- KPIs


def test_kpi_windows_include_now_and_exclude_their_start():
    frame = reports([("a", "1", 0, "aid_station"), ("b", "2", 15, "aid_station"), ("c", "3", 14.99, "aid_station"),
                     ("d", "4", 60, "finish_tent"), ("e", "5", 59, "finish_tent")])
    kpis = dd.command_kpis(frame, participants(100), None, RACE, NOW)
    assert (kpis.reports_last_15m, kpis.reports_last_60m, kpis.reports_total) == (2, 4, 5)


def test_duplicate_report_ids_and_survey_answers_are_not_live_reports():
    frame = reports([("a", "1", 1, "aid_station"), ("a", "1", 1, "aid_station"), ("s", "2", 1, "survey")])
    kpis = dd.command_kpis(frame, participants(10), None, RACE, NOW)
    assert (kpis.reports_last_15m, kpis.reports_total, kpis.cases) == (1, 1, 1)


def test_cases_count_a_runner_once_and_each_report_without_a_bib():
    frame = reports([("a", "1", 1, "aid_station"), ("b", "1", 30, "aid_station"), ("c", None, 2, "aid_station"),
                     ("d", None, 3, "aid_station")])
    kpis = dd.command_kpis(frame, participants(200), None, RACE, NOW)
    assert kpis.cases == 3
    assert kpis.cases_per_1000_starters == pytest.approx(3 / 200 * 1000)
    low, high = kpis.cases_per_1000_ci
    assert low < 15 < high


def test_reports_after_the_race_clock_are_not_counted_yet():
    frame = reports([("a", "1", -5, "aid_station"), ("b", "2", 5, "aid_station")])  # -5 = five minutes after NOW
    assert dd.command_kpis(frame, participants(5), None, RACE, NOW).reports_total == 1


def test_runner_counts_come_from_runner_status_and_are_unknown_without_it():
    status = pl.DataFrame({"race_id": [RACE] * 5, "status": ["on_course", "on_course", "finished", "dnf", "in_medical"]})
    kpis = dd.command_kpis(None, participants(5), status, RACE, NOW)
    assert (kpis.runners_on_course, kpis.finishers, kpis.dnf, kpis.in_medical) == (2, 1, 1, 1)
    assert dd.command_kpis(None, participants(5), None, RACE, NOW).runners_on_course is None


def test_a_simulated_report_marks_the_kpis_simulated():
    frame = reports([("a", "1", 1, "aid_station")]).with_columns(pl.lit(True).alias("simulated"))
    assert dd.command_kpis(frame, participants(5), None, RACE, NOW).simulated


# --------------------------------------------------------------------------- WBGT


def heat(rows: list[tuple]) -> pl.DataFrame:
    """(source, location, minutes before NOW, wbgt_c, flag)."""
    return pl.DataFrame(
        {"source": [r[0] for r in rows], "location": [r[1] for r in rows], "race_id": [RACE] * len(rows),
         "observed_at_utc": [NOW - timedelta(minutes=r[2]) for r in rows], "wbgt_c": [r[3] for r in rows],
         "wbgt_flag": [r[4] for r in rows], "wbgt_method": ["bom_approx"] * len(rows), "simulated": [False] * len(rows)},
        schema_overrides={"observed_at_utc": T},
    )


def test_wbgt_now_is_the_preferred_feeds_latest_reading_with_its_change():
    frame = heat([("iem-asos:KBOS", "KBOS", 70, 17.0, "green"), ("iem-asos:KBOS", "KBOS", 10, 19.5, "yellow"),
                  ("open-meteo", "grid", 1, 25.0, "red")])
    now = dd.wbgt_now(frame, RACE, NOW, stale_after_s=1800)
    assert (now.source, now.wbgt_c, now.flag, now.colour) == ("iem-asos:KBOS", 19.5, "yellow", dd.FLAG_COLOURS["yellow"])
    assert now.change_c == pytest.approx(2.5) and now.previous_at_utc == NOW - timedelta(minutes=70)
    assert now.age_s == 600 and not now.stale


def test_wbgt_older_than_the_limit_is_stale_and_future_readings_are_ignored():
    frame = heat([("iem-asos:KBOS", "KBOS", 45, 18.0, "yellow"), ("iem-asos:KBOS", "KBOS", -30, 30.0, "black")])
    now = dd.wbgt_now(frame, RACE, NOW, stale_after_s=1800)
    assert now.wbgt_c == 18.0 and now.stale and now.change_c is None


def test_no_weather_means_no_wbgt():
    assert dd.wbgt_now(None, RACE, NOW, 1800) is None


# --------------------------------------------------------------------------- alerts and freshness


def alerts(rows: list[tuple]) -> pl.DataFrame:
    """(alert_id, severity, status, minutes before NOW opened)."""
    base = {c: [None] * len(rows) for c in ALERT_SCHEMA}
    base.update(alert_id=[r[0] for r in rows], race_id=[RACE] * len(rows), severity=[r[1] for r in rows],
                status=[r[2] for r in rows], opened_at_utc=[NOW - timedelta(minutes=r[3]) for r in rows])
    return pl.DataFrame(base, schema=ALERT_SCHEMA)


def test_open_alerts_hide_resolved_and_put_critical_first_then_newest():
    frame = alerts([("w-old", "warning", "open", 30), ("c", "critical", "acknowledged", 50), ("r", "critical", "resolved", 1),
                    ("w-new", "warning", "open", 5)])
    assert dd.open_alerts(frame, RACE)["alert_id"].to_list() == ["c", "w-new", "w-old"]


def test_data_is_stale_two_minutes_after_the_last_ingest():
    wall = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    manifest = {"published_at_utc": (wall - timedelta(seconds=119)).isoformat(),
                "last_ingest_utc": (wall - timedelta(seconds=119)).isoformat()}
    assert not dd.freshness(manifest, wall).stale
    manifest["last_ingest_utc"] = (wall - timedelta(seconds=121)).isoformat()
    state = dd.freshness(manifest, wall)
    assert state.stale and "STALE" in state.message and state.age_s == 121


def test_nothing_published_is_stale():
    assert dd.freshness(None, NOW).stale


@pytest.mark.parametrize(("seconds", "text"), [(45, "45 s"), (12 * 60, "12 min"), (3 * 3600 + 300, "3 h 05 min"),
                                               (52 * 3600, "2 d 4 h")])
def test_ages_are_written_for_people(seconds, text):
    assert dd.format_age(seconds) == text


# --------------------------------------------------------------------------- station entry


def test_a_token_maps_to_its_principal_and_station():
    hashes = {"station:aid-16mi": hash_token("t16"), "command": hash_token("tc")}
    assert dd.principal_for_token(hashes, "t16") == "station:aid-16mi"
    assert dd.station_of("station:aid-16mi") == "aid-16mi"
    assert dd.principal_for_token(hashes, "tc") == "command" and dd.station_of("command") is None
    assert dd.principal_for_token(hashes, "wrong") is None and dd.principal_for_token(hashes, "") is None


def test_report_payload_from_the_finish_tent_and_without_a_bib():
    station = {"point_id": "med-finish", "kind": "medical_tent", "km": 42.195}
    body = dd.report_payload("r-1", RACE, station, NOW, bib="  ", muscle_group="calf", severity="mild",
                             treatment="rest", disposition="discharged")
    assert body["source"] == "finish_tent" and body["bib"] is None and body["km"] == 42.195
    assert body["reported_at_utc"] == "2017-04-17T16:40:00+00:00"
    aid = dd.report_payload("r-2", RACE, {"point_id": "aid-16mi", "kind": "aid_station", "km": 25.75}, NOW, bib=" 12 ",
                            muscle_group="calf", severity="mild", treatment="rest", disposition="dnf")
    assert (aid["source"], aid["bib"]) == ("aid_station", "12")


def test_snapshot_folder_lists_the_races_published(tmp_path):
    write_snapshot(pl.DataFrame({"race_id": ["boston-2018", "boston-2017", "boston-2017"]}), tmp_path / "races.parquet")
    assert dd.Snapshots(tmp_path).race_ids() == ["boston-2017", "boston-2018"]
    assert not os.path.exists(tmp_path / "alerts.parquet") and dd.Snapshots(tmp_path).table("alerts") is None
