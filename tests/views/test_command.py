"""views.command: KPI windows, cases, WBGT now, open alerts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from racecramp.marts.alerts import ALERT_SCHEMA
from racecramp.marts.heat import with_heat
from racecramp.sources.weather import read_visualcrossing_csv
from racecramp.views import command as command_view

from paths import DATA
from view_frames import NOW, RACE, T, participants, reports  # noqa: F401

# --------------------------------------------------------------------------- KPIs


def test_kpi_windows_include_now_and_exclude_their_start():
    frame = reports([("a", "1", 0, "aid_station"), ("b", "2", 15, "aid_station"), ("c", "3", 14.99, "aid_station"),
                     ("d", "4", 60, "finish_tent"), ("e", "5", 59, "finish_tent")])
    kpis = command_view.command_kpis(frame, participants(100), None, RACE, NOW)
    assert (kpis.reports_last_15m, kpis.reports_last_60m, kpis.reports_total) == (2, 4, 5)


def test_duplicate_report_ids_and_survey_answers_are_not_live_reports():
    frame = reports([("a", "1", 1, "aid_station"), ("a", "1", 1, "aid_station"), ("s", "2", 1, "survey")])
    kpis = command_view.command_kpis(frame, participants(10), None, RACE, NOW)
    assert (kpis.reports_last_15m, kpis.reports_total, kpis.cases) == (1, 1, 1)


def test_cases_count_a_runner_once_and_each_report_without_a_bib():
    frame = reports([("a", "1", 1, "aid_station"), ("b", "1", 30, "aid_station"), ("c", None, 2, "aid_station"),
                     ("d", None, 3, "aid_station")])
    kpis = command_view.command_kpis(frame, participants(200), None, RACE, NOW)
    assert kpis.cases == 3
    assert kpis.cases_per_1000 == pytest.approx(3 / 200 * 1000)
    low, high = kpis.cases_per_1000_ci
    assert low < 15 < high


def test_the_rate_is_named_for_what_the_roster_holds():
    frame = reports([("a", "1", 1, "aid_station")])
    assert command_view.command_kpis(frame, participants(10), None, RACE, NOW).denominator_kind == "starters"
    finishers_only = command_view.command_kpis(frame, participants(10, finished=True), None, RACE, NOW)
    assert (finishers_only.denominator_kind, finishers_only.runners) == ("finishers", 10)


def test_each_window_count_carries_the_cases_expected_and_the_runners_who_passed():
    quarter = lambda m: NOW - timedelta(minutes=m)  # noqa: E731  (bucket starts, minutes before NOW)
    load = pl.DataFrame({
        "race_id": [RACE] * 5,
        "bucket_start_utc": [quarter(m) for m in (75, 60, 45, 30, 15)],
        "bucket_end_utc": [quarter(m - 15) for m in (75, 60, 45, 30, 15)],
        "observed": [9, 1, 1, 1, 1], "runners_passed": [900, 100, 200, 300, 400],
        "expected": [9.0, 0.5, 1.0, 1.5, 2.0],
    })
    kpis = command_view.command_kpis(reports([("a", "1", 1, "aid_station")]), participants(5), None, RACE, NOW, station_load=load)
    # last 15 min: the bucket NOW-15..NOW; last 60: the four buckets from NOW-60 (the one ending at NOW-60 is out)
    assert (kpis.expected_last_15m, kpis.runners_passed_last_15m) == (2.0, 400)
    assert (kpis.expected_last_60m, kpis.runners_passed_last_60m) == (5.0, 1000)
    assert command_view.window_caption(2.0, 400) == "expected 2.0 · 400 runners passed stations"
    assert command_view.command_kpis(None, participants(5), None, RACE, NOW).expected_last_15m is None


def test_an_open_alert_whose_condition_cleared_shows_its_cleared_time():
    alert = {"status": "open", "cleared_at_utc": datetime(2017, 4, 17, 17, 42, tzinfo=timezone.utc)}
    assert command_view.cleared_note(alert, "America/New_York") == "cleared at 13:42 (still open for a human to resolve)"
    assert command_view.cleared_note({**alert, "cleared_at_utc": None}) is None
    assert command_view.cleared_note({**alert, "status": "resolved"}) is None


def test_reports_after_the_race_clock_are_not_counted_yet():
    frame = reports([("a", "1", -5, "aid_station"), ("b", "2", 5, "aid_station")])  # -5 = five minutes after NOW
    assert command_view.command_kpis(frame, participants(5), None, RACE, NOW).reports_total == 1


def test_runner_counts_come_from_runner_status_and_are_unknown_without_it():
    status = pl.DataFrame({"race_id": [RACE] * 5, "status": ["on_course", "on_course", "finished", "dnf", "in_medical"]})
    kpis = command_view.command_kpis(None, participants(5), status, RACE, NOW)
    assert (kpis.runners_on_course, kpis.finishers, kpis.dnf, kpis.in_medical) == (2, 1, 1, 1)
    assert command_view.command_kpis(None, participants(5), None, RACE, NOW).runners_on_course is None


def test_a_simulated_report_marks_the_kpis_simulated():
    frame = reports([("a", "1", 1, "aid_station")]).with_columns(pl.lit(True).alias("simulated"))
    assert command_view.command_kpis(frame, participants(5), None, RACE, NOW).simulated


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
    now = command_view.wbgt_now(frame, RACE, NOW, stale_after_s=1800)
    assert (now.source, now.wbgt_c, now.flag, now.colour) == ("iem-asos:KBOS", 19.5, "yellow", command_view.FLAG_COLOURS["yellow"])
    assert now.change_c == pytest.approx(2.5) and now.previous_at_utc == NOW - timedelta(minutes=70)
    assert now.age_s == 600 and not now.stale


def test_wbgt_older_than_the_limit_is_stale_and_future_readings_are_ignored():
    frame = heat([("iem-asos:KBOS", "KBOS", 45, 18.0, "yellow"), ("iem-asos:KBOS", "KBOS", -30, 30.0, "black")])
    now = command_view.wbgt_now(frame, RACE, NOW, stale_after_s=1800)
    assert now.wbgt_c == 18.0 and now.stale and now.change_c is None


def test_no_weather_means_no_wbgt():
    assert command_view.wbgt_now(None, RACE, NOW, 1800) is None


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
    assert command_view.open_alerts(frame, RACE)["alert_id"].to_list() == ["c", "w-new", "w-old"]




def test_wbgt_now_names_its_method_and_inputs():
    weather = with_heat(read_visualcrossing_csv(DATA / "weather" / "boston_hourly.csv", year=2017).lazy()).collect()
    noon = datetime(2017, 4, 17, 16, 5, tzinfo=timezone.utc)
    now = command_view.wbgt_now(weather, "boston-2017", noon, stale_after_s=1800)
    assert now.method == "liljegren"
    assert now.inputs == (
        "Liljegren model (lwbgt) from 23.3 °C, RH 25 %, wind 9.8 m/s at 10 m (6.5 m/s at 2 m), "
        "sun 797 W/m² (pvlib clear sky × cloud cover read from the sky text, 50 % cloud), 1010 hPa (standard atmosphere)"
    )


def test_a_fallback_wbgt_says_why():
    frame = heat([("iem-asos:KBOS", "KBOS", 10, 19.5, "yellow")]).with_columns(
        temp_c=pl.lit(21.0), rh_pct=pl.lit(40.0), fallback_reason=pl.lit("no wind"))
    now = command_view.wbgt_now(frame, RACE, NOW, stale_after_s=1800)
    assert now.inputs == "BoM approximation (fallback) from 21.0 °C, RH 40 %, fallback because: no wind"
