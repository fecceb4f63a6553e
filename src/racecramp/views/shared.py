"""Helpers every view shares: the snapshot folder, a race's rows, simulated labels, the
medical reports counted on screen, data freshness, and how numbers and ages are written."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from racecramp.marts.clock import race_clock
from racecramp.marts.counting import counted_reports
from racecramp.publish.snapshots import MARTS_BEHIND, load_snapshot, read_manifest

UTC_US = pl.Datetime("us", "UTC")

# Operational choice: during a race the timing feed lands passings every few seconds, so no
# ingest for 2 minutes means a feed, the intake or the ingest has stopped.
DATA_STALE_AFTER_S = 120.0

__all__ = ["race_clock"]


@dataclass(frozen=True)
class Snapshots:
    """The published snapshot folder the pages read."""

    directory: Path

    def table(self, name: str, columns: tuple[str, ...] | None = None) -> pl.DataFrame | None:
        return load_snapshot(self.directory, name, columns)

    def manifest(self) -> dict | None:
        return read_manifest(self.directory)

    def race_ids(self) -> list[str]:
        races = self.table("races", ("race_id",))
        return sorted(races["race_id"].unique().to_list()) if races is not None and races.height else []


def for_race(frame: pl.DataFrame | None, race_id: str) -> pl.DataFrame | None:
    """Rows of one race (frames without race_id are returned whole)."""
    if frame is None or "race_id" not in frame.columns:
        return frame
    return frame.filter(pl.col("race_id") == race_id)


def any_simulated(*frames: pl.DataFrame | None) -> bool:
    """True when any row of any frame is simulated (the page then says SIMULATED)."""
    return any(
        f is not None and "simulated" in f.columns and bool(f["simulated"].fill_null(False).any()) for f in frames
    )


def _max_time(frame: pl.DataFrame | None, column: str) -> datetime | None:
    if frame is None or column not in frame.columns or frame.height == 0:
        return None
    return frame[column].max()


def medical_reports(reports: pl.DataFrame | None, race_id: str, now_utc: datetime | None = None) -> pl.DataFrame:
    """Aid-station and finish-tent reports of the race, one per report_id, known at now_utc."""
    if reports is None:
        return pl.DataFrame()
    frame = counted_reports(reports.filter(pl.col("race_id") == race_id))
    if now_utc is not None:
        frame = frame.filter(pl.col("reported_at_utc") <= now_utc)
    return frame.collect()


@dataclass(frozen=True)
class Freshness:
    published_at_utc: datetime | None
    last_ingest_utc: datetime | None
    age_s: float | None  # since the last ingest (or publish), at the wall clock
    stale: bool
    message: str
    marts_behind: dict[str, datetime] = field(default_factory=dict)  # mart -> first change it has not caught up with


def _parse_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).astimezone(UTC) if text else None


def freshness(manifest: dict | None, wall_now_utc: datetime, stale_after_s: float = DATA_STALE_AFTER_S) -> Freshness:
    """How old the published data is; stale when nothing was ingested for stale_after_s."""
    if manifest is None:
        return Freshness(None, None, None, True, "Nothing has been published yet: import a race or start the intake.")
    published = _parse_iso(manifest.get("published_at_utc"))
    ingested = _parse_iso(manifest.get("last_ingest_utc"))
    reference = ingested or published
    age_s = (wall_now_utc - reference).total_seconds() if reference else None
    stale = age_s is None or age_s > stale_after_s
    if age_s is None:
        message = "The manifest has no publish time."
    else:
        message = f"Last ingest {format_age(age_s)} ago" + (
            f": STALE (more than {format_age(stale_after_s)} without new data; check the feeds and `racecramp status`)."
            if stale else "."
        )
    behind = {name: _parse_iso(since) for name, since in (manifest.get(MARTS_BEHIND) or {}).items()}
    if behind and not stale:
        lag_s = (wall_now_utc - min(behind.values())).total_seconds()
        message += (f" Recomputing {len(behind)} mart{'s' if len(behind) > 1 else ''} (rates, loads, forecasts) "
                    f"with the last {format_age(lag_s)} of data.")
    return Freshness(published, ingested, age_s, stale, message, behind)


def format_age(seconds: float) -> str:
    """'45 s', '12 min', '3 h 05 min', '2 d 4 h'."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    hours, mins = divmod(int(minutes), 60)
    if hours < 48:
        return f"{hours} h {mins:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def format_number(value: float | int | None, digits: int = 0) -> str:
    """A number for a KPI tile; '—' when unknown."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"
