"""Station forecast: runners and expected cramp presentations arriving in the next 30/60 min.

For every still-running runner, the arrival time at a station ahead is
    last_passed_at_utc + (station_km − last_km) × pace_s_per_km
with pace the runner's latest segment pace (see transforms/locator.py). Expected cramp
presentations are the sum of the per-runner hazard (transforms/hazard.py) over the runners
arriving in the window; the 90% interval is the 5th and 95th percentile of a Poisson with
that mean (scipy.stats.poisson.ppf). It is a projection, not a measurement.

Who counts (documented in docs/alerts.md):
- runners seen at a mat and not yet at the finish;
- runners whose wave has started but who have not reached the first mat yet, projected from
  the start at their declared pace (runners without a declared time cannot be projected);
- NOT runners more than OVERDUE_AFTER_S (45 min) past their projected time at the next mat:
  they have probably stopped, and counting them would inflate every station ahead;
- NOT runners taken off course by a medical report: from the time of a report with
  disposition dnf or transported that is their latest report and comes after their latest
  passing (the rule of locator.runner_status's `dnf` status).
Weather: the latest WBGT at or before now_utc, from the race's preferred feed
(heat.preferred_weather_source), is assumed to hold for the next hour (persistence); with no
weather the heat multiplier is 1.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
from scipy.stats import poisson

from racecramp.marts.hazard import HazardParams, expected_presentations_per_runner, require_columns, station_catchments
from racecramp.marts.heat import preferred_weather_source
from racecramp.marts.locator import (
    STOPPED_DISPOSITIONS,
    check_now_utc,
    collect_if_lazy,
    finish_km_by_race,
    latest_passings,
    medical_reports_by_runner,
    with_next_mat,
)

FORECAST_WINDOWS_MIN = (30, 60)
# 90% Poisson interval on the expected count.
INTERVAL_LOW_Q = 0.05
INTERVAL_HIGH_Q = 0.95

_UTC = pl.Datetime("us", "UTC")


def race_weather(weather_with_heat: pl.DataFrame | pl.LazyFrame, race_id: str, now_utc: datetime) -> pl.DataFrame:
    """The race's observations known at now_utc, from its one preferred feed, oldest first.

    Rows whose race_id is this race or null count; one feed is kept
    (heat.preferred_weather_source) so the series never jumps between a station and a model.
    """
    weather = collect_if_lazy(weather_with_heat)
    require_columns(weather, "weather_with_heat", ("source", "observed_at_utc", "wbgt_c", "wbgt_flag"))
    if "race_id" not in weather.columns:
        weather = weather.with_columns(race_id=pl.lit(None, dtype=pl.String))
    known = weather.filter(
        (pl.col("race_id").is_null() | (pl.col("race_id") == race_id)) & (pl.col("observed_at_utc") <= now_utc)
    )
    if known.is_empty():
        return known
    chosen = preferred_weather_source(known.lazy()).collect()
    return known.join(chosen, on="source", how="semi").sort("observed_at_utc")


def latest_wbgt_c(now_utc: datetime, weather_with_heat: pl.DataFrame | pl.LazyFrame | None,
                  race_id: str) -> float | None:
    """WBGT (°C) of the race's latest observation with a WBGT at or before now_utc, else None."""
    if weather_with_heat is None:
        return None
    series = race_weather(weather_with_heat, race_id, now_utc).filter(pl.col("wbgt_c").is_not_null())
    return series["wbgt_c"][-1] if series.height else None


def taken_off_course(now_utc: datetime, reports: pl.DataFrame | pl.LazyFrame,
                     positions: pl.DataFrame) -> pl.DataFrame:
    """(race_id, bib) of runners whose latest medical report by now_utc says dnf or transported
    and comes after their latest passing (positions: locator.latest_passings)."""
    reports = collect_if_lazy(reports)
    require_columns(reports, "cramp_reports", ("race_id", "bib", "source", "reported_at_utc", "disposition"))
    latest = (
        medical_reports_by_runner(reports, now_utc)
        .agg(last_report_at_utc=pl.col("reported_at_utc").last(), last_disposition=pl.col("disposition").last())
    )
    return (
        latest.join(positions.select("race_id", "bib", "last_passed_at_utc"), on=["race_id", "bib"], how="left")
        .filter(
            pl.col("last_disposition").is_in(STOPPED_DISPOSITIONS)
            & (pl.col("last_passed_at_utc").is_null() | (pl.col("last_report_at_utc") > pl.col("last_passed_at_utc")))
        )
        .select("race_id", "bib")
    )


def _runners_still_out(now_utc: datetime, passings: pl.DataFrame, participants: pl.DataFrame,
                       course_points: pl.DataFrame, reports: pl.DataFrame | None = None) -> pl.DataFrame:
    positions = latest_passings(now_utc, passings, course_points)
    seen = positions.filter(~pl.col("finished"))
    declared = participants.select("race_id", "bib", "declared_finish_s")
    seen = seen.join(declared, on=["race_id", "bib"], how="left").with_columns(
        relative_pace=(pl.col("last_net_time_s") / pl.col("last_km"))
        / (pl.col("declared_finish_s") / pl.col("finish_km"))
    )
    seen_keys = positions.select("race_id", "bib")
    unseen = (
        participants.filter(
            pl.col("wave_start_utc").is_not_null()
            & (pl.col("wave_start_utc") <= now_utc)
            & pl.col("declared_finish_s").is_not_null()
        )
        .join(seen_keys, on=["race_id", "bib"], how="anti")
        .join(finish_km_by_race(course_points), on="race_id", how="inner")
        .select(
            "race_id",
            "bib",
            "finish_km",
            last_km=pl.lit(0.0),
            last_passed_at_utc=pl.col("wave_start_utc").cast(_UTC),
            pace_s_per_km=pl.col("declared_finish_s") / pl.col("finish_km"),
            relative_pace=pl.lit(1.0),
        )
    )
    unseen = with_next_mat(now_utc, unseen, course_points)
    columns = ["race_id", "bib", "last_km", "last_passed_at_utc", "pace_s_per_km", "relative_pace", "overdue"]
    out = pl.concat([seen.select(columns), unseen.select(columns)], how="vertical").filter(
        ~pl.col("overdue") & pl.col("pace_s_per_km").is_not_null() & (pl.col("pace_s_per_km") > 0)
    )
    if reports is not None:
        out = out.join(taken_off_course(now_utc, reports, positions), on=["race_id", "bib"], how="anti")
    return out


def station_forecast(now_utc: datetime, passings: pl.DataFrame | pl.LazyFrame,
                     participants: pl.DataFrame | pl.LazyFrame, course_points: pl.DataFrame | pl.LazyFrame,
                     weather_with_heat: pl.DataFrame | pl.LazyFrame | None = None,
                     params: HazardParams = HazardParams(),
                     reports: pl.DataFrame | pl.LazyFrame | None = None) -> pl.DataFrame:
    """Per station: runners arriving and expected cramp presentations in the next 30 and 60 min.

    reports (cramp_reports): runners a dnf/transported report took off course are left out
    from the report's time; without reports only the 45-min overdue rule removes them.
    """
    check_now_utc(now_utc)
    passings = collect_if_lazy(passings)
    participants = collect_if_lazy(participants)
    course_points = collect_if_lazy(course_points)
    require_columns(participants, "participants", ("race_id", "bib", "wave_start_utc", "declared_finish_s"))
    stations = station_catchments(course_points)
    runners = _runners_still_out(now_utc, passings, participants, course_points,
                                 None if reports is None else collect_if_lazy(reports))
    races = stations["race_id"].unique().sort().to_list()
    wbgt = pl.DataFrame(
        {"race_id": races, "wbgt_c": [latest_wbgt_c(now_utc, weather_with_heat, race) for race in races]},
        schema={"race_id": pl.String, "wbgt_c": pl.Float64},
    )

    horizon = now_utc + timedelta(minutes=max(FORECAST_WINDOWS_MIN))
    eta_s = (pl.col("km") - pl.col("last_km")) * pl.col("pace_s_per_km")
    arrivals = (
        runners.join(stations, on="race_id", how="inner")
        .filter(pl.col("km") > pl.col("last_km") + 1e-9)
        .with_columns(
            eta_utc=pl.col("last_passed_at_utc") + pl.duration(microseconds=(eta_s * 1e6).round().cast(pl.Int64))
        )
        .filter((pl.col("eta_utc") > now_utc) & (pl.col("eta_utc") <= horizon))
        .join(wbgt, on="race_id", how="left")
    )
    arrivals = arrivals.with_columns(
        expected=expected_presentations_per_runner(
            "km", "relative_pace", "wbgt_c", "catchment_km", "receives_finish_share", params
        )
    )
    aggs = []
    for minutes in FORECAST_WINDOWS_MIN:
        within = pl.col("eta_utc") <= now_utc + timedelta(minutes=minutes)
        aggs.append(within.sum().cast(pl.Int64).alias(f"arrivals_next_{minutes}m"))
        aggs.append(pl.col("expected").filter(within).sum().alias(f"expected_cramps_next_{minutes}m"))
    per_station = arrivals.group_by("race_id", "point_id").agg(*aggs)
    out = stations.join(per_station, on=["race_id", "point_id"], how="left").with_columns(
        pl.col(f"arrivals_next_{m}m").fill_null(0) for m in FORECAST_WINDOWS_MIN
    ).with_columns(pl.col(f"expected_cramps_next_{m}m").fill_null(0.0) for m in FORECAST_WINDOWS_MIN)
    for minutes in FORECAST_WINDOWS_MIN:
        mean = out[f"expected_cramps_next_{minutes}m"].to_numpy()
        out = out.with_columns(
            pl.Series(f"expected_cramps_next_{minutes}m_lo", poisson.ppf(INTERVAL_LOW_Q, mean), dtype=pl.Float64),
            pl.Series(f"expected_cramps_next_{minutes}m_hi", poisson.ppf(INTERVAL_HIGH_Q, mean), dtype=pl.Float64),
        )
    simulated = _any_simulated(passings) or _any_simulated(participants)
    return out.select(
        "race_id", "point_id", "label", "km",
        "arrivals_next_30m", "arrivals_next_60m",
        "expected_cramps_next_30m", "expected_cramps_next_30m_lo", "expected_cramps_next_30m_hi",
        "expected_cramps_next_60m", "expected_cramps_next_60m_lo", "expected_cramps_next_60m_hi",
        computed_at_utc=pl.lit(now_utc, dtype=_UTC),
        simulated=pl.lit(simulated),
    ).sort("race_id", "km", "point_id")


def _any_simulated(frame: pl.DataFrame) -> bool:
    return "simulated" in frame.columns and bool(frame["simulated"].fill_null(False).any())
