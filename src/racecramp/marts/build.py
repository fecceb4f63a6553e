"""Every mart, computed from the warehouse by the pure transforms and stored back.

`racecramp marts` and the ingest flow both call `compute_and_store_marts`, so an analyst
rebuilding after a bulk import gets exactly what the live pipeline publishes.

"Now" for the live marts (alerts, forecast, runner status, live distress) is each race's
**race clock**: the latest passing or report time seen, never later than the wall clock.
During a live race that is the wall clock within seconds; for a replay or a race imported
afterwards it is the moment the data stops, so the marts describe that moment.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from racecramp.marts.clock import race_clock as clock_of_frames
from racecramp.warehouse.writer import query, replace_table

if TYPE_CHECKING:
    from racecramp.config import Settings

INPUT_TABLES = ("races", "course_points", "participants", "passings", "cramp_reports", "survey_responses", "weather_observations")


def load_inputs(con: duckdb.DuckDBPyConnection, race_id: str | None = None) -> dict[str, pl.DataFrame]:
    """The analyst tables the transforms read (optionally for one race), plus the alert state."""
    frames = {}
    for table in INPUT_TABLES:
        if race_id is None:
            frames[table] = utc_frame(query(con, f"SELECT * FROM {table}"))
        elif table == "weather_observations":  # keep the race's rows and unlabelled ones
            frames[table] = utc_frame(query(con, f"SELECT * FROM {table} WHERE race_id = ? OR race_id IS NULL", [race_id]))
        else:
            frames[table] = utc_frame(query(con, f"SELECT * FROM {table} WHERE race_id = ?", [race_id]))
    frames["quarantine"] = utc_frame(query(con, 'SELECT landed_at_utc, source, "check", message, batch_id FROM quarantine'))
    frames["landed"] = utc_frame(query(con, "SELECT landed_at_utc, rows AS record_count FROM landing_log"))
    frames["alert_actions"] = utc_frame(query(con, 'SELECT alert_id, action, "by", at_utc FROM stg_alert_actions'))
    has_alerts = query(con, "SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = 'alerts'")["n"][0] > 0
    frames["previous_alerts"] = utc_frame(query(con, "SELECT * FROM alerts")) if has_alerts else None
    return frames


def utc_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """DuckDB hands TIMESTAMPTZ back in the session zone and UUIDs as objects; normalise."""
    fixes = [
        pl.col(name).dt.convert_time_zone("UTC").dt.cast_time_unit("us")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    ]
    fixes += [pl.col(name).cast(pl.String) for name, dtype in frame.schema.items() if dtype == pl.Object or name == "report_id"]
    return frame.with_columns(fixes) if fixes else frame


def race_clock(inputs: dict[str, pl.DataFrame], race_id: str, wall_utc: datetime) -> datetime | None:
    """Latest passing or report of the race, capped at the wall clock (transforms.clock); None without data."""

    def of_race(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.filter(pl.col("race_id") == race_id) if frame.height else frame

    return clock_of_frames(of_race(inputs["cramp_reports"]), of_race(inputs["passings"]), wall_utc)


def compute_marts(inputs: dict[str, pl.DataFrame], wall_utc: datetime | None = None, stale_after_s: float = 4500.0) -> dict[str, pl.DataFrame]:
    """All marts from the input frames (pure: no I/O)."""
    from racecramp.marts import alerts as al
    from racecramp.marts.exposure import exposure_by_point
    from racecramp.marts.forecast import station_forecast
    from racecramp.marts.heat import with_heat
    from racecramp.marts.locator import runner_status
    from racecramp.marts.rates import (
        cramp_rate_by_distance,
        cramp_rate_by_pace_group,
        cramp_rate_by_sex_age,
        cramp_rate_by_station,
        cramp_rate_by_wbgt,
        station_load_15m,
    )
    from racecramp.marts.slowdown import late_slowdown_by_edition, late_slowdown_by_finish_band, live_distress
    from racecramp.marts.survey import survey_risk_factors

    wall_utc = wall_utc or datetime.now(UTC)
    participants, passings = inputs["participants"], inputs["passings"]
    course, reports = inputs["course_points"], inputs["cramp_reports"]
    weather = with_heat(inputs["weather_observations"].lazy()).collect()
    exposure = exposure_by_point(passings, participants, course).collect()
    marts: dict[str, pl.DataFrame] = {
        "weather_heat": weather,
        "cramp_rate_by_distance": cramp_rate_by_distance(reports, exposure, course).collect(),
        "cramp_rate_by_station": cramp_rate_by_station(reports, exposure).collect(),
        "cramp_rate_by_pace_group": cramp_rate_by_pace_group(reports, participants, passings).collect(),
        "cramp_rate_by_wbgt": cramp_rate_by_wbgt(reports, exposure, weather).collect(),
        "cramp_rate_by_sex_age": cramp_rate_by_sex_age(reports, participants).collect(),
        "station_load_15m": station_load_15m(reports, exposure).collect(),
        "late_slowdown_by_edition": late_slowdown_by_edition(participants, passings).collect(),
        "late_slowdown_by_finish_band": late_slowdown_by_finish_band(participants, passings).collect(),
        "survey_risk_factors": _collect(survey_risk_factors(inputs["survey_responses"])),
    }
    forecasts, statuses, distress, loads, new_alerts = [], [], [], [], []
    alert_params = al.AlertParams(stale_after_s=stale_after_s)
    for race in inputs["races"].iter_rows(named=True):
        race_id = race["race_id"]
        now = race_clock(inputs, race_id, wall_utc)
        if now is None:
            continue
        r_course = course.filter(pl.col("race_id") == race_id)
        r_part = participants.filter(pl.col("race_id") == race_id)
        r_pass = passings.filter(pl.col("race_id") == race_id)
        r_reports = reports.filter(pl.col("race_id") == race_id)
        r_exposure = exposure.filter(pl.col("race_id") == race_id)
        starts = [w["start_utc"] for w in (race["start_waves"] or []) if w.get("start_utc") is not None]
        race_start = min(starts).astimezone(UTC) if starts else None
        forecasts.append(station_forecast(now, r_pass, r_part, r_course, weather, reports=r_reports).with_columns(pl.lit(now).alias("race_clock_utc")))
        statuses.append(runner_status(now, r_part, r_pass, r_reports, r_course).with_columns(pl.lit(now).alias("race_clock_utc")))
        distress.append(_collect(live_distress(r_pass, r_course, now)))
        loads.append(
            al.station_load(now, r_reports, r_exposure, weather, race_id=race_id, course_points=r_course,
                            participants=r_part, params=alert_params)
        )
        new_alerts.append(
            al.evaluate_alerts(now, r_reports, r_exposure, weather, inputs["quarantine"], inputs.get("previous_alerts"),
                               alert_params, race_id=race_id, course_points=r_course, landed=inputs["landed"],
                               participants=r_part, race_start_utc=race_start)
        )
    marts["station_forecast"] = _concat(forecasts)
    marts["runner_status"] = _concat(statuses)
    marts["live_distress"] = _concat(distress)
    marts["station_load_30m"] = _concat(loads)
    merged = al.merge_alerts(inputs.get("previous_alerts"), _concat(new_alerts) if new_alerts else al.empty_alerts())
    actions = inputs["alert_actions"]
    alerts, rejected = al.apply_alert_actions(merged, actions) if actions.height else (merged, None)
    marts["alerts"] = alerts
    if rejected is not None:
        marts["alert_actions_rejected"] = rejected
    return {name: frame for name, frame in marts.items() if frame is not None}


def _collect(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    return frame.collect() if isinstance(frame, pl.LazyFrame) else frame


def _concat(frames: list[pl.DataFrame]) -> pl.DataFrame | None:
    frames = [f for f in frames if f is not None]
    if not frames:
        return None
    return pl.concat(frames, how="diagonal_relaxed")


# The survey-cohort model costs about 2 s for two 26,000-runner races, too much for every
# half-second live cycle: it is recomputed when the survey has changed and the stored result
# is older than this (and always by `racecramp marts`, which passes refresh_cohort_after_s=0).
COHORT_REFRESH_S = 60.0


def survey_rate_ratios(inputs: dict[str, pl.DataFrame], computed_at_utc: datetime | None = None) -> pl.DataFrame:
    """Survey-cohort rate ratios pooled over every race in `inputs` (transforms.cohort), with
    the number of survey rows used and when, so a later cycle can tell whether it is stale."""
    from racecramp.marts.cohort import cohort_rate_ratios, cohort_stretches
    from racecramp.marts.exposure import runner_segments
    from racecramp.marts.heat import with_heat

    survey = inputs["survey_responses"]
    stamp = (
        pl.lit(survey.height, pl.Int64).alias("survey_rows"),
        pl.lit(computed_at_utc or datetime.now(UTC)).cast(pl.Datetime("us", "UTC")).alias("computed_at_utc"),
    )
    if survey.height == 0:
        return _empty_cohort().with_columns(*stamp)
    segments = runner_segments(inputs["passings"], inputs["participants"], inputs["course_points"])
    weather = with_heat(inputs["weather_observations"].lazy())
    return cohort_rate_ratios(cohort_stretches(survey, segments, weather)).with_columns(*stamp)


def _empty_cohort() -> pl.DataFrame:
    from racecramp.marts.cohort import RESULT_SCHEMA

    return pl.DataFrame(schema=RESULT_SCHEMA)


def _stored_cohort(con: duckdb.DuckDBPyConnection) -> pl.DataFrame | None:
    exists = query(con, "SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = 'survey_rate_ratios'")["n"][0] > 0
    return utc_frame(query(con, "SELECT * FROM survey_rate_ratios")) if exists else None


def _cohort_mart(con: duckdb.DuckDBPyConnection, inputs: dict[str, pl.DataFrame], refresh_after_s: float) -> pl.DataFrame:
    """The stored survey_rate_ratios while still good enough, else a fresh one. Good enough:
    computed from the same number of survey rows, or less than refresh_after_s ago (0 = never)."""
    now = datetime.now(UTC)
    stored = _stored_cohort(con)
    if stored is not None and stored.height and refresh_after_s > 0:
        unchanged = stored["survey_rows"][0] == inputs["survey_responses"].height
        young = (now - stored["computed_at_utc"][0]).total_seconds() < refresh_after_s
        if unchanged or young:
            return stored
    return survey_rate_ratios(inputs, now)


def compute_and_store_marts(
    con: duckdb.DuckDBPyConnection, settings: Settings, refresh_cohort_after_s: float = COHORT_REFRESH_S
) -> dict[str, pl.DataFrame]:
    inputs = load_inputs(con)
    marts = compute_marts(inputs, stale_after_s=settings.weather_stale_after_s)
    marts["survey_rate_ratios"] = _cohort_mart(con, inputs, refresh_cohort_after_s)
    for name, frame in marts.items():
        replace_table(con, name, frame)
    return marts
