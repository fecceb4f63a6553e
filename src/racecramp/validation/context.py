"""What a check needs to know about the races, loaded once: which races exist, how long
their courses are, where their points are.

The ingest builds it from the warehouse (warehouse.ingest.load_context), the intake from the
published snapshots (`context_from_snapshots`); validation itself never opens a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from racecramp.columns import require_columns
from racecramp.errors import RacecrampError
from racecramp.validation.windows import WindowRules, race_windows

RACE_COLUMNS = ("race_id", "distance_km")
POINT_COLUMNS = ("race_id", "point_id", "kind", "km")


class CourseNotPublished(RacecrampError, LookupError):
    """No course snapshot exists yet (nothing has been imported and ingested)."""


class CourseSnapshotError(RacecrampError, ValueError):
    """A course snapshot exists but lacks a column the checks need."""


@dataclass(frozen=True)
class ValidationContext:
    """The known races (race_id, distance_km, timezone, date, start_waves) and course points
    (race_id, point_id, kind, km), with dictionary lookups for per-record checks."""

    races: pl.DataFrame
    course_points: pl.DataFrame
    distance_km: dict[str, float] = field(default_factory=dict)
    point_km: dict[tuple[str, str], float] = field(default_factory=dict)
    windows: pl.DataFrame = field(default_factory=lambda: race_windows(pl.DataFrame()))  # validation.windows
    rules: WindowRules = WindowRules()

    @classmethod
    def from_frames(cls, races: pl.DataFrame, course_points: pl.DataFrame, rules: WindowRules = WindowRules()) -> "ValidationContext":
        require_columns(races, "races", RACE_COLUMNS)
        require_columns(course_points, "course_points", POINT_COLUMNS)
        races = races.with_columns(pl.col("race_id").cast(pl.String), pl.col("distance_km").cast(pl.Float64))
        points = course_points.select(
            pl.col("race_id").cast(pl.String), pl.col("point_id").cast(pl.String),
            pl.col("kind").cast(pl.String), pl.col("km").cast(pl.Float64),
        )  # fmt: skip
        distance = {r: float(d) for r, d in races.select("race_id", "distance_km").iter_rows() if d is not None}
        point_km = {(r, p): float(k) for r, p, k in points.select("race_id", "point_id", "km").iter_rows()}
        windows = race_windows(races, rules) if "start_waves" in races.columns else race_windows(pl.DataFrame())
        return cls(races=races, course_points=points, distance_km=distance, point_km=point_km, windows=windows, rules=rules)

    @classmethod
    def empty(cls) -> "ValidationContext":
        return cls.from_frames(
            pl.DataFrame(schema={"race_id": pl.String, "distance_km": pl.Float64}),
            pl.DataFrame(schema={"race_id": pl.String, "point_id": pl.String, "kind": pl.String, "km": pl.Float64}),
        )

    def race_ids(self) -> list[str]:
        return sorted(self.distance_km)

    def point_ids(self, race_id: str) -> list[str]:
        return sorted(p for (r, p) in self.point_km if r == race_id)

    @property
    def course(self) -> pl.DataFrame:
        """One row per course point with its race's distance (races without points keep a row)."""
        return (
            self.races.select("race_id", "distance_km")
            .join(self.course_points, on="race_id", how="left")
            .select("race_id", "point_id", "kind", "km", "distance_km")
            .sort("race_id", "km", nulls_last=True)
        )


def context_from_snapshots(snapshot_dir: Path, rules: WindowRules = WindowRules()) -> ValidationContext:
    """The published course (snapshots/races + course_points), read through the cached snapshot
    reader: a republished snapshot is picked up by the next call."""
    from racecramp.publish.snapshots import load_snapshot, snapshot_path

    races = load_snapshot(snapshot_dir, "races")
    points = load_snapshot(snapshot_dir, "course_points")
    if races is None or points is None:
        missing = snapshot_path(snapshot_dir, "races" if races is None else "course_points")
        raise CourseNotPublished(
            f"no course published yet ({missing} does not exist): run racecramp import course / ingest first"
        )
    for name, frame, needed in (("races", races, RACE_COLUMNS), ("course_points", points, POINT_COLUMNS)):
        absent = [c for c in needed if c not in frame.columns]
        if absent:
            raise CourseSnapshotError(
                f"{snapshot_path(snapshot_dir, name)}: snapshot has no column(s) {', '.join(absent)}; expected {', '.join(needed)}"
            )
    return _cached_context(races, points, rules)


# The last context built, with the snapshot frames it was built from: the snapshot reader hands
# back the same frame objects until a file is republished, so `is` tells whether it still holds.
_last: tuple[pl.DataFrame, pl.DataFrame, ValidationContext] | None = None


def _cached_context(races: pl.DataFrame, points: pl.DataFrame, rules: WindowRules) -> ValidationContext:
    global _last
    last = _last
    if last is not None and last[0] is races and last[1] is points and last[2].rules == rules:
        return last[2]
    context = ValidationContext.from_frames(races, points, rules)
    _last = (races, points, context)
    return context
