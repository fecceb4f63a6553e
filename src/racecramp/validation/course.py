"""The published course: which races exist, how long they are, where their points are.

The intake checks live reports and passings against the course the ingest last published
(`snapshots/races.parquet` and `snapshots/course_points.parquet`), never against the
warehouse itself (only the ingest opens it). Reads are cached on the files' identity
(inode, mtime, size): the publisher replaces a snapshot atomically, so a new snapshot is
picked up by the next request.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from racecramp.config import Settings
from racecramp.domain import POINT_KM_TOLERANCE  # noqa: F401  (the ingest applies the same tolerance)

RACES_FILE = "races.parquet"
COURSE_POINTS_FILE = "course_points.parquet"

COURSE_COLUMNS = {
    "race_id": pl.String,
    "point_id": pl.String,
    "kind": pl.String,
    "km": pl.Float64,
    "distance_km": pl.Float64,
}


class CourseNotPublished(LookupError):
    """No course snapshot exists yet (nothing has been imported and ingested)."""


class CourseSnapshotError(ValueError):
    """A course snapshot exists but lacks a column the intake needs."""


@dataclass(frozen=True)
class CourseIndex:
    """Dictionary lookups over the published course, for per-record checks."""

    course: pl.DataFrame
    distance_km: dict[str, float]
    point_km: dict[tuple[str, str], float]

    def race_ids(self) -> list[str]:
        return sorted(self.distance_km)

    def point_ids(self, race_id: str) -> list[str]:
        return sorted(p for (r, p) in self.point_km if r == race_id)


_cache_lock = threading.Lock()
_cache: dict[tuple[Path, Path], tuple[tuple[tuple[int, int, int], ...], CourseIndex]] = {}


def _identity(path: Path) -> tuple[int, int, int]:
    st = os.stat(path)
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _read_course(races_path: Path, points_path: Path) -> pl.DataFrame:
    races = pl.read_parquet(races_path)
    points = pl.read_parquet(points_path)
    for path, frame, needed in (
        (races_path, races, ("race_id", "distance_km")),
        (points_path, points, ("race_id", "point_id", "kind", "km")),
    ):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise CourseSnapshotError(
                f"{path}: snapshot has no column(s) {', '.join(missing)}; expected {', '.join(needed)}"
            )
    races = races.select(pl.col("race_id").cast(pl.String), pl.col("distance_km").cast(pl.Float64))
    points = points.select(
        pl.col("race_id").cast(pl.String),
        pl.col("point_id").cast(pl.String),
        pl.col("kind").cast(pl.String),
        pl.col("km").cast(pl.Float64),
    )
    # Keep races without points too (distance check still applies); point columns are null there.
    return (
        races.join(points, on="race_id", how="left")
        .select(list(COURSE_COLUMNS))
        .sort("race_id", "km", nulls_last=True)
    )


def course_index(settings: Settings) -> CourseIndex:
    """The published course as lookups; raises CourseNotPublished when no snapshot exists."""
    races_path = Path(settings.snapshot_dir) / RACES_FILE
    points_path = Path(settings.snapshot_dir) / COURSE_POINTS_FILE
    try:
        identity = (_identity(races_path), _identity(points_path))
    except FileNotFoundError as exc:
        raise CourseNotPublished(
            f"no course published yet ({exc.filename} does not exist): "
            "run racecramp import course / ingest first"
        ) from None
    key = (races_path, points_path)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] == identity:
            return hit[1]
    course = _read_course(races_path, points_path)
    distance_km = {
        r: float(d)
        for r, d in course.select("race_id", "distance_km").unique().iter_rows()
        if d is not None
    }
    point_km = {
        (r, p): float(k)
        for r, p, k in course.filter(pl.col("point_id").is_not_null()).select("race_id", "point_id", "km").iter_rows()
    }
    index = CourseIndex(course=course, distance_km=distance_km, point_km=point_km)
    with _cache_lock:
        _cache[key] = (identity, index)
    return index


def load_course(settings: Settings) -> pl.DataFrame:
    """One row per course point (race_id, point_id, kind, km, distance_km) from the snapshot."""
    return course_index(settings).course
