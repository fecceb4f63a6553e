"""The race clock: what "now" means for a race, shared by the marts and the dashboard.

During a race it is the wall clock within seconds; for a replay or a past race it is the
moment the data stops, so "the last 15 minutes" are the last 15 minutes of that race.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl


def _latest(frame: pl.DataFrame | None, column: str) -> datetime | None:
    if frame is None or column not in frame.columns or frame.height == 0:
        return None
    return frame[column].max()


def race_clock(reports: pl.DataFrame | None, passings: pl.DataFrame | None, wall_now_utc: datetime) -> datetime | None:
    """min(wall clock, latest reported_at_utc or passed_at_utc) of one race's frames; None before any event."""
    if wall_now_utc.tzinfo is None:
        raise ValueError(f"race_clock: wall_now_utc={wall_now_utc!r} has no time zone; expected UTC")
    times = [t for t in (_latest(reports, "reported_at_utc"), _latest(passings, "passed_at_utc")) if t is not None]
    if not times:
        return None
    return min(wall_now_utc.astimezone(UTC), max(times))
