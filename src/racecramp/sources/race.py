"""Reader for a race definition: one TOML file per edition (race, start waves, course CSV and,
optionally, the track CSV the course map draws; `racecramp race new` writes all three)."""

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
    race, spec = _race_table(path)
    path = Path(path)
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


def _race_table(path: Path) -> tuple[dict, dict]:
    """The [race] table and the whole spec of a race TOML."""
    path = Path(path)
    if not path.is_file():
        raise RaceFileError(f"{path}: no such race file, expected a race TOML (make one with `racecramp race new`)")
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise RaceFileError(f"{path}: not valid TOML ({err})") from None
    race = spec.get("race")
    return race, spec


def read_course(path: Path, race_id: str) -> pl.DataFrame:
    """Course points CSV (point_id, kind, km, label, beds, position_source; lat, lon when known) for one race."""
    if not Path(path).is_file():
        raise RaceFileError(f"{path}: no such course file for race {race_id!r}, expected the CSV named by course = in its race file")
    frame = pl.read_csv(path, schema_overrides={"beds": pl.String, "km": pl.String}, infer_schema_length=0)
    position = [pl.col(c).replace("", None) if c in frame.columns else pl.lit(None, pl.String).alias(c) for c in ("lat", "lon")]
    return frame.select(
        pl.lit(race_id).alias("race_id"),
        "point_id",
        "kind",
        "km",
        "label",
        pl.col("beds").replace("", None),
        "position_source",
        *position,
    )


def read_race_track(path: Path) -> pl.DataFrame | None:
    """The course track (race_id, seq, km, lat, lon) named by `track =` in a race TOML; None when it names none."""
    from racecramp.sources.track_files import read_track

    race, _ = _race_table(path)
    if not isinstance(race, dict) or not race.get("track"):
        return None
    track_path = (Path(path).parent / race["track"]).resolve()
    if not track_path.is_file():
        raise RaceFileError(f"{path}: track = {race['track']!r} but {track_path} does not exist, expected the track CSV beside it")
    return read_track(track_path).select(pl.lit(str(race["race_id"])).alias("race_id"), pl.all())
