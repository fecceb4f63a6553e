"""Data quality: what was quarantined and why, and how fresh each feed is."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from racecramp.views.shared import UTC_US, _max_time, for_race


def quarantine_summary(quarantine: pl.DataFrame | None) -> pl.DataFrame | None:
    """Quarantined rows per source and failed check, most first."""
    if quarantine is None:
        return None
    return (
        quarantine.group_by("source", "check")
        .agg(pl.len().alias("rows"), pl.col("landed_at_utc").max().alias("last_landed_at_utc"))
        .sort(["rows", "source", "check"], descending=[True, False, False])
    )


def feed_freshness(
    passings: pl.DataFrame | None,
    reports: pl.DataFrame | None,
    weather: pl.DataFrame | None,
    race_id: str,
    race_now_utc: datetime | None,
    wall_now_utc: datetime,
) -> pl.DataFrame:
    """Latest event per feed and its age on the race clock and the wall clock."""
    rows = []
    race_weather_rows = None
    if weather is not None:
        race_weather_rows = weather.filter(pl.col("race_id").is_null() | (pl.col("race_id") == race_id))
    for feed, frame, column in (
        ("timing (passings)", for_race(passings, race_id), "passed_at_utc"),
        ("cramp reports", for_race(reports, race_id), "reported_at_utc"),
        ("weather", race_weather_rows, "observed_at_utc"),
    ):
        latest = _max_time(frame, column)
        rows.append({
            "feed": feed,
            "rows": 0 if frame is None else frame.height,
            "latest_event_utc": latest,
            "age_on_race_clock_s": None if latest is None or race_now_utc is None else (race_now_utc - latest).total_seconds(),
            "age_on_wall_clock_s": None if latest is None else (wall_now_utc - latest).total_seconds(),
        })
    return pl.DataFrame(rows, schema={"feed": pl.String, "rows": pl.Int64, "latest_event_utc": UTC_US,
                                      "age_on_race_clock_s": pl.Float64, "age_on_wall_clock_s": pl.Float64})
