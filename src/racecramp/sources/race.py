"""Reader for a race definition: one TOML file per edition (race, start waves, course CSV)."""

from __future__ import annotations

import tomllib
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

WAVE_DTYPE = pl.List(
    pl.Struct(
        {
            "wave": pl.Int32,
            "start_utc": pl.Datetime("us", "UTC"),
            "bib_from": pl.String,
            "bib_to": pl.String,
            "bib_prefix": pl.String,
        }
    )
)

from racecramp.errors import RacecrampError


class RaceFileError(RacecrampError, ValueError):
    """A race file is missing a field or has a bad value; the message says which."""


def read_race(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(races row, course_points rows) from a race TOML such as data/races/boston-2017.toml."""
    path = Path(path)
    spec = tomllib.loads(path.read_text())
    race = spec.get("race")
    if not isinstance(race, dict):
        raise RaceFileError(f"{path}: no [race] table")
    for key in ("race_id", "name", "date", "timezone", "distance_km", "course"):
        if key not in race:
            raise RaceFileError(f"{path}: [race] has no {key}")
    try:
        zone = ZoneInfo(race["timezone"])
    except Exception:
        raise RaceFileError(f"{path}: timezone={race['timezone']!r} is not an IANA time zone") from None
    race_date = race["date"] if isinstance(race["date"], date) else date.fromisoformat(str(race["date"]))
    waves = []
    for i, wave in enumerate(spec.get("waves", []), start=1):
        try:
            hh, mm = (int(x) for x in str(wave["start_local"]).split(":"))
            start = datetime.combine(race_date, time(hh, mm), tzinfo=zone).astimezone(ZoneInfo("UTC"))
        except (KeyError, ValueError):
            raise RaceFileError(f"{path}: wave {i} start_local={wave.get('start_local')!r}: expected HH:MM") from None
        waves.append(
            {
                "wave": int(wave["wave"]),
                "start_utc": start,
                "bib_from": None if wave.get("bib_from") is None else str(wave["bib_from"]),
                "bib_to": None if wave.get("bib_to") is None else str(wave["bib_to"]),
                "bib_prefix": wave.get("bib_prefix"),
            }
        )
    races = pl.DataFrame(
        {
            "race_id": [race["race_id"]],
            "name": [race["name"]],
            "date": [race_date],
            "timezone": [race["timezone"]],
            "distance_km": [float(race["distance_km"])],
            "start_waves": pl.Series([waves], dtype=WAVE_DTYPE),
            "course_time_limit_s": pl.Series([_time_limit_s(path, race)], dtype=pl.Float64),
        }
    )
    course_path = (path.parent / race["course"]).resolve()
    course = read_course(course_path, race["race_id"])
    return races, course


def _time_limit_s(path: Path, race: dict) -> float | None:
    """[race] course_time_limit_h: how long the course stays open after the last wave (optional)."""
    hours = race.get("course_time_limit_h")
    if hours is None:
        return None
    if not isinstance(hours, (int, float)) or not 1 <= hours <= 48:
        raise RaceFileError(f"{path}: course_time_limit_h={hours!r}: expected hours between 1 and 48")
    return float(hours) * 3600


def read_course(path: Path, race_id: str) -> pl.DataFrame:
    """Course points CSV (point_id, kind, km, label, beds, position_source) for one race."""
    frame = pl.read_csv(path, schema_overrides={"beds": pl.String, "km": pl.String}, infer_schema_length=0)
    return frame.select(
        pl.lit(race_id).alias("race_id"),
        "point_id",
        "kind",
        "km",
        "label",
        pl.col("beds").replace("", None),
        "position_source",
    )
