"""When the scheduled post-race report runs: a cron in the race's own time zone.

Default: 06:00 local on the morning after the race (the medical director's debrief), read
from the published races table. Before the race is imported the date is unknown, so the
fallback is every day at that hour in FALLBACK_TIMEZONE; `racecramp serve` picks up the
race-specific schedule at its next start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import polars as pl

REPORT_HOUR_LOCAL = 6
REPORT_MINUTE_LOCAL = 0
REPORT_DAYS_AFTER_RACE = 1
FALLBACK_TIMEZONE = "UTC"


@dataclass(frozen=True)
class ReportSchedule:
    cron: str
    timezone: str
    description: str


def report_schedule(race_id: str, races: pl.DataFrame | None, hour_local: int = REPORT_HOUR_LOCAL,
                    minute_local: int = REPORT_MINUTE_LOCAL, days_after: int = REPORT_DAYS_AFTER_RACE) -> ReportSchedule:
    """Cron (minute hour day month *) for `days_after` the race at hour:minute in the race's time zone."""
    if not (0 <= hour_local <= 23 and 0 <= minute_local <= 59):
        raise ValueError(f"report schedule: {hour_local:02d}:{minute_local:02d} is not a time of day (expected 00:00-23:59)")
    row = races.filter(pl.col("race_id") == race_id) if races is not None and races.height else None
    if row is None or row.height == 0:
        return ReportSchedule(f"{minute_local} {hour_local} * * *", FALLBACK_TIMEZONE,
                              f"daily at {hour_local:02d}:{minute_local:02d} {FALLBACK_TIMEZONE} ({race_id} not imported yet)")
    race_date: date = row["date"][0]
    timezone = row["timezone"][0]
    ZoneInfo(timezone)  # a bad zone was quarantined at ingest; fail loudly if one slipped through
    day = race_date + timedelta(days=days_after)
    return ReportSchedule(f"{minute_local} {hour_local} {day.day} {day.month} *", timezone,
                          f"{day.isoformat()} {hour_local:02d}:{minute_local:02d} {timezone} (day {days_after} after {race_id})")
