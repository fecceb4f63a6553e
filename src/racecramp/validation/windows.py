"""When an event may have happened: inside its race's window, and not after the receiver's clock.

A race's window runs from `before_start_s` before its first wave to `after_close_s` after the
course closes (last wave + the race's course time limit), in UTC, shown in the race's time
zone. Weather gets `weather_margin_s` more on each side (a feed reports before and after the
race); survey answers may come until `survey_days` after the close. An event later than the
receiver's clock (the intake's, or when the batch landed) plus `clock_skew_s` is refused too.
A year typed wrong is refused here, so no transform ever sees a span of years
(docs/security.md, "Time windows").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from racecramp.landing.kinds import KINDS, TIME_IN_WINDOW

UTC_DT = pl.Datetime("us", "UTC")
# A course stays open this long after the last wave when the race file names no limit
# (big-city marathons close 6-7 h after the last wave: operational choice, settable per race).
DEFAULT_COURSE_TIME_LIMIT_S = 8 * 3600.0
WINDOW_FAILURE_SCHEMA = {"_row": pl.Int64, "column": pl.String, "check": pl.String, "value": pl.String, "reason": pl.String}
FUTURE = "not_in_future"


@dataclass(frozen=True)
class WindowRules:
    """The margins around a race's window (settings: event_window_*)."""

    before_start_s: float = 3 * 3600.0
    after_close_s: float = 6 * 3600.0
    weather_margin_s: float = 12 * 3600.0
    survey_days: float = 30.0
    clock_skew_s: float = 300.0


def race_windows(races: pl.DataFrame, rules: WindowRules = WindowRules()) -> pl.DataFrame:
    """race_id, timezone, window_start_utc, window_end_utc (events), and the weather and survey ends."""
    schema = {"race_id": pl.String, "timezone": pl.String, "window_start_utc": UTC_DT, "window_end_utc": UTC_DT,
              "weather_start_utc": UTC_DT, "weather_end_utc": UTC_DT, "survey_end_utc": UTC_DT}
    rows = []
    if "start_waves" not in races.columns:
        return pl.DataFrame(schema=schema)
    for race in races.iter_rows(named=True):
        starts = [w["start_utc"] for w in (race.get("start_waves") or []) if w.get("start_utc") is not None]
        if not starts:
            continue  # a race without wave times has no window to check against
        limit = race.get("course_time_limit_s") or DEFAULT_COURSE_TIME_LIMIT_S
        start = min(starts) - timedelta(seconds=rules.before_start_s)
        close = max(starts) + timedelta(seconds=limit)
        end = close + timedelta(seconds=rules.after_close_s)
        margin = timedelta(seconds=rules.weather_margin_s)
        rows.append({"race_id": race["race_id"], "timezone": race.get("timezone") or "UTC", "window_start_utc": start,
                     "window_end_utc": end, "weather_start_utc": start - margin, "weather_end_utc": end + margin,
                     "survey_end_utc": close + timedelta(days=rules.survey_days)})
    return pl.DataFrame(rows, schema=schema)


def _local(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def _bounds(kind: str) -> tuple[str, str]:
    """The window columns that bound `kind`'s event time."""
    if kind == "weather":
        return "weather_start_utc", "weather_end_utc"
    if kind == "survey":
        return "window_start_utc", "survey_end_utc"
    return "window_start_utc", "window_end_utc"


RECEIVED = "_received_utc"


def window_failures(frame: pl.DataFrame, kind: str, windows: pl.DataFrame, received_utc: datetime | pl.Series,
                    rules: WindowRules = WindowRules()) -> pl.DataFrame:
    """Rows whose event time is outside their race's window, or later than received_utc + the skew.

    frame: _row, the kind's event-time column, and race_id (a weather row without race_id must
    fall inside some race's weather window). received_utc: when the batch landed, or one time per
    row (in `_row` order: batches merged together, each row with its own batch's landing time)."""
    spec = KINDS[kind]
    column = spec.event_time
    if column is None or TIME_IN_WINDOW not in spec.rules or frame.height == 0 or column not in frame.columns:
        return pl.DataFrame(schema=WINDOW_FAILURE_SCHEMA)
    received = (pl.lit(received_utc, pl.Datetime("us", "UTC")) if isinstance(received_utc, datetime)
                else pl.Series(RECEIVED, received_utc, pl.Datetime("us", "UTC")).gather(frame["_row"]))
    timed = frame.with_columns(received.alias(RECEIVED)).filter(pl.col(column).is_not_null()).select(
        "_row", column, RECEIVED, *(["race_id"] if "race_id" in frame.columns else []))
    failures = []
    ahead = timed.filter(pl.col(column) > pl.col(RECEIVED) + timedelta(seconds=rules.clock_skew_s))
    for row, at, received_at in ahead.select("_row", column, RECEIVED).iter_rows():
        failures.append({"_row": row, "column": column, "check": FUTURE, "value": at.isoformat(),
                         "reason": f"is {_age(at - received_at)} after the receiver's clock ({received_at:%Y-%m-%d %H:%M} UTC); "
                                   f"expected at most {rules.clock_skew_s / 60:g} min ahead (check the device's clock)"})
    low, high = _bounds(kind)
    rest = timed
    if "race_id" in rest.columns:
        labelled = rest.filter(pl.col("race_id").is_not_null()).join(windows, on="race_id", how="inner")
        outside = labelled.filter((pl.col(column) < pl.col(low)) | (pl.col(column) > pl.col(high)))
        for row, at, race, zone, lo, hi in outside.select("_row", column, "race_id", "timezone", low, high).iter_rows():
            failures.append({"_row": row, "column": column, "check": TIME_IN_WINDOW, "value": at.isoformat(),
                             "reason": f"outside {race}'s window: expected between {_local(lo, zone)} and {_local(hi, zone)} "
                                       f"{zone} ({lo:%Y-%m-%d %H:%M}–{hi:%Y-%m-%d %H:%M} UTC)"})
        unlabelled = rest.filter(pl.col("race_id").is_null()) if kind == "weather" else rest.head(0)
    else:
        unlabelled = rest
    if unlabelled.height and windows.height:
        inside_any = unlabelled.join(windows.select(low, high), how="cross").filter(
            (pl.col(column) >= pl.col(low)) & (pl.col(column) <= pl.col(high))
        ).select("_row").unique()
        for row, at in unlabelled.join(inside_any, on="_row", how="anti").select("_row", column).iter_rows():
            failures.append({"_row": row, "column": column, "check": TIME_IN_WINDOW, "value": at.isoformat(),
                             "reason": "outside every known race's window (no race_id given): expected a time on or near a race day"})
    return pl.DataFrame(failures, schema=WINDOW_FAILURE_SCHEMA).sort("_row")


def _age(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"
