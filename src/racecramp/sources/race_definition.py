"""A new race from a course track and the organiser's answers: the race TOML, the course CSV
and the track CSV that sources.race reads. Pure: answers in, file texts out; the CLI
(`racecramp race new`) reads the geometry and writes the folder.

Answers, as the CLI takes them:
    wave     "1,09:00"  "1,09:00,1-4999"  "2,09:20,5000-"  "0,08:45,F"  "0,08:45,F1-99"
             (number, local gun time, bibs: a numeric range, open at either end, and/or a
             letter prefix; no bibs = the start list's wave column decides)
    station  "aid;5;Aid 5 km"  "medical;52.5163,13.3777;Tiergarten tent;12"  "medical;finish;Finish tent;40"
             (kind; where: a km, lat,lon snapped to the track, or `finish`; label; beds)
    mats     "5,10,15,20,half,25,30,35,40" (km, `half`, or miles as `13.1mi`); the finish is always a point
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from racecramp.domain import HALF_KM, KM_PER_MILE, MARATHON_KM, PointKind
from racecramp.errors import RacecrampError
from racecramp.sources.course_geometry import (
    MAX_LENGTH_MISMATCH,
    position_at_km,
    scaled_to_distance,
    snap_to_track,
    track_length_km,
)

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
STANDARD_DISTANCES_KM = (MARATHON_KM, HALF_KM, 10.0)
DEFAULT_MATS = "5,10,15,20,half,25,30,35,40"
KIND_WORDS = {
    "aid": PointKind.AID_STATION, "aid_station": PointKind.AID_STATION, "water": PointKind.AID_STATION,
    "medical": PointKind.MEDICAL_TENT, "medical_tent": PointKind.MEDICAL_TENT, "tent": PointKind.MEDICAL_TENT,
}
POINT_PREFIX = {PointKind.AID_STATION: "aid", PointKind.MEDICAL_TENT: "med", PointKind.TIMING_MAT: "mat"}
COURSE_COLUMNS = ("point_id", "kind", "km", "label", "beds", "position_source", "lat", "lon")
_WAVE_BIBS = re.compile(r"^([A-Za-z]*)(?:(\d*)-(\d*)|(\d+))?$")


class RaceDefinitionError(RacecrampError, ValueError):
    """An answer for a new race does not fit; the message names the flag, the value and the expectation."""


@dataclass(frozen=True)
class Wave:
    wave: int
    start_local: str
    bib_from: int | None = None
    bib_to: int | None = None
    bib_prefix: str | None = None


@dataclass(frozen=True)
class Station:
    kind: PointKind
    label: str
    km: float | None = None  # given, or None when placed by lat/lon (snapped) or at the finish
    lat: float | None = None
    lon: float | None = None
    at_finish: bool = False
    beds: int | None = None


@dataclass(frozen=True)
class RaceAnswers:
    race_id: str
    name: str
    race_date: date
    timezone: str
    distance_km: float
    waves: tuple[Wave, ...]
    stations: tuple[Station, ...]
    mats_km: tuple[float, ...]
    track_source: str  # what the track was made from, for the files' provenance lines
    notes: tuple[str, ...] = field(default=())


def check_race_id(race_id: str) -> str:
    """A race_id is a lowercase slug (it names files, tokens and warehouse rows)."""
    if not SLUG.match(race_id):
        raise RaceDefinitionError(f"--race-id {race_id!r}: expected a lowercase slug such as 'berlin-2026'")
    return race_id


def check_timezone(timezone: str) -> str:
    """An IANA time zone name such as Europe/Berlin."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise RaceDefinitionError(f"--timezone {timezone!r}: expected an IANA time zone such as Europe/Berlin") from None
    return timezone


def parse_wave(text: str) -> Wave:
    """`1,09:00[,BIBS]` -> Wave (BIBS: 1-4999, 5000-, -99, F, F1-99)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (2, 3) or not parts[0].isdigit() or not re.fullmatch(r"\d{1,2}:\d{2}", parts[1]):
        raise RaceDefinitionError(f"--wave {text!r}: expected WAVE,HH:MM[,BIBS] such as 1,09:00,1-4999")
    hh, mm = (int(x) for x in parts[1].split(":"))
    if hh > 23 or mm > 59:
        raise RaceDefinitionError(f"--wave {text!r}: gun time {parts[1]} is not a time of day, expected HH:MM")
    wave = Wave(wave=int(parts[0]), start_local=f"{hh:02d}:{mm:02d}")
    if len(parts) == 2 or not parts[2]:
        return wave
    found = _WAVE_BIBS.match(parts[2])
    if not found:
        raise RaceDefinitionError(f"--wave {text!r}: bibs {parts[2]!r}, expected FROM-TO, FROM-, -TO, a prefix such as F, or F1-99")
    prefix, low, high, single = found.groups()
    bib_from = int(low) if low else int(single) if single else None
    bib_to = int(high) if high else int(single) if single else None
    if bib_from is not None and bib_to is not None and bib_from > bib_to:
        raise RaceDefinitionError(f"--wave {text!r}: bibs from {bib_from} to {bib_to}, expected FROM <= TO")
    return Wave(wave.wave, wave.start_local, bib_from, bib_to, prefix or None)


def parse_station(text: str) -> Station:
    """`KIND;WHERE;LABEL[;BEDS]` -> Station (WHERE: km, `lat,lon`, or `finish`)."""
    parts = [p.strip() for p in text.split(";")]
    if len(parts) not in (3, 4) or not parts[2]:
        raise RaceDefinitionError(f"--station {text!r}: expected KIND;WHERE;LABEL[;BEDS] such as 'aid;5;Aid 5 km'")
    kind = KIND_WORDS.get(parts[0].lower())
    if kind is None:
        raise RaceDefinitionError(f"--station {text!r}: kind {parts[0]!r}, expected one of {', '.join(KIND_WORDS)}")
    beds = None
    if len(parts) == 4 and parts[3]:
        if not parts[3].isdigit():
            raise RaceDefinitionError(f"--station {text!r}: beds {parts[3]!r}, expected a whole number")
        beds = int(parts[3])
    where = parts[1].lower()
    if where == "finish":
        return Station(kind, parts[2], at_finish=True, beds=beds)
    try:
        if "," in where:
            lat, lon = (float(x) for x in where.split(","))
            return Station(kind, parts[2], lat=lat, lon=lon, beds=beds)
        km = float(where)
    except ValueError:
        raise RaceDefinitionError(f"--station {text!r}: where {parts[1]!r}, expected a km, lat,lon or finish") from None
    if km < 0:
        raise RaceDefinitionError(f"--station {text!r}: km={km:g}, expected 0 or more")
    return Station(kind, parts[2], km=km, beds=beds)


def parse_mats(text: str) -> tuple[float, ...]:
    """`5,10,half,13.1mi` -> km of each timing mat, in course order."""
    kms = []
    for word in (w.strip().lower() for w in text.split(",") if w.strip()):
        try:
            kms.append(HALF_KM if word == "half" else float(word[:-2]) * KM_PER_MILE if word.endswith("mi") else float(word.rstrip("k")))
        except ValueError:
            raise RaceDefinitionError(f"--mats {text!r}: {word!r}, expected km (5), half, or miles (13.1mi)") from None
    return tuple(sorted(set(kms)))


def chosen_distance(track_km: float, distance_km: float | None) -> float:
    """The race distance: as given, else the standard distance the track is near, else the track's length."""
    if distance_km is not None:
        return distance_km
    for standard in STANDARD_DISTANCES_KM:
        if abs(track_km - standard) / standard <= MAX_LENGTH_MISMATCH:
            return standard
    return round(track_km, 3)


def km_slug(km: float) -> str:
    """5 -> '05k', 7.5 -> '07-5k', 12.25 -> '12-25k' (point ids are slugs: no dots)."""
    whole, frac = f"{km:.3f}".rstrip("0").rstrip(".").partition(".")[::2]
    return f"{int(whole):02d}" + (f"-{frac}" if frac else "") + "k"


def mat_point_id(km: float) -> str:
    """The point_id of a timing mat: mat-05k, mat-half (the convention mapping drafts use too)."""
    return "mat-half" if abs(km - HALF_KM) < 1e-6 else f"mat-{km_slug(km)}"


def course_points(answers: RaceAnswers, track: pl.DataFrame) -> pl.DataFrame:
    """The course CSV rows: mats, stations (snapped where given by lat/lon), the finish; each with lat/lon on the track."""
    distance = answers.distance_km
    rows: list[dict] = []
    for km in answers.mats_km:
        if 0 < km < distance:
            rows.append({"point_id": mat_point_id(km), "kind": PointKind.TIMING_MAT.value, "km": km,
                         "label": "Half mat" if mat_point_id(km) == "mat-half" else f"{km:g} km mat", "beds": None,
                         "position_source": f"timing mat at km {km:g}, as given to racecramp race new"})
    for station in answers.stations:
        if station.at_finish:
            km, source = distance, "at the finish, as given to racecramp race new"
        elif station.km is not None:
            km, source = station.km, f"km {station.km:g}, as given to racecramp race new"
        else:
            snap = snap_to_track(track, station.lat, station.lon, label=f"--station {station.label!r}")
            km = round(snap.km, 3)
            source = f"lat {station.lat}, lon {station.lon} snapped to the track ({snap.offset_m:.0f} m off it)"
        if km > distance + 1e-9:
            raise RaceDefinitionError(f"--station {station.label!r}: km={km:g} is beyond the finish at {distance:g} km, expected 0..{distance:g}")
        prefix = POINT_PREFIX[station.kind]
        point_id = f"{prefix}-finish" if km >= distance - 1e-9 else f"{prefix}-{km_slug(km)}"
        rows.append({"point_id": point_id, "kind": station.kind.value, "km": km, "label": station.label,
                     "beds": station.beds, "position_source": source})
    rows.append({"point_id": "finish", "kind": PointKind.FINISH.value, "km": distance, "label": "Finish line", "beds": None,
                 "position_source": f"course length {distance:g} km"})
    frame = pl.DataFrame(rows, schema={"point_id": pl.String, "kind": pl.String, "km": pl.Float64, "label": pl.String,
                                       "beds": pl.Int32, "position_source": pl.String})
    repeated = frame.filter(pl.col("point_id").is_duplicated())["point_id"].unique().to_list()
    if repeated:
        raise RaceDefinitionError(f"stations {sorted(repeated)} are the same kind at the same km, expected one station per kind and place")
    where = position_at_km(track, frame["km"].to_list())
    return frame.with_columns(
        pl.Series("lat", [round(a, 7) for a, _ in where]), pl.Series("lon", [round(b, 7) for _, b in where])
    ).sort("km", "point_id")


def race_answers(race_id: str, name: str, race_date: date, timezone: str, distance_km: float | None, waves: list[str],
                 stations: list[str], mats: str, track: pl.DataFrame, track_source: str) -> tuple[RaceAnswers, pl.DataFrame]:
    """Checked answers and the track with km scaled to the race distance."""
    if not name.strip():
        raise RaceDefinitionError("--name '': expected the race's name, e.g. 'Berlin Marathon'")
    if not waves:
        raise RaceDefinitionError("no --wave given: expected at least one, e.g. --wave 1,09:00")
    measured = track_length_km(track)
    distance = chosen_distance(measured, distance_km)
    parsed_waves = tuple(parse_wave(w) for w in waves)
    numbers = [w.wave for w in parsed_waves]
    if sorted(set(numbers)) != sorted(numbers) and all(w.bib_from is None and w.bib_prefix is None for w in parsed_waves):
        raise RaceDefinitionError(f"--wave numbers {numbers} repeat without bib ranges, expected each wave once")
    scaled = scaled_to_distance(track, distance, label=track_source)
    notes = (f"track measures {measured:.3f} km by geodesic; km along it scaled to the race distance {distance:g} km",)
    answers = RaceAnswers(
        race_id=check_race_id(race_id), name=name.strip(), race_date=race_date, timezone=check_timezone(timezone),
        distance_km=distance, waves=parsed_waves, stations=tuple(parse_station(s) for s in stations),
        mats_km=parse_mats(mats), track_source=track_source, notes=notes,
    )
    return answers, scaled


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a TOML basic string


def race_toml(answers: RaceAnswers, course_file: str, track_file: str) -> str:
    """The race file's text (the format sources.race.read_race reads)."""
    lines = [
        f"# {answers.name} {answers.race_date.year}: made by `racecramp race new` from {answers.track_source}.",
        *(f"# {note}." for note in answers.notes),
        "[race]",
        f"race_id = {_toml_string(answers.race_id)}",
        f"name = {_toml_string(answers.name)}",
        f'date = "{answers.race_date.isoformat()}"',
        f"timezone = {_toml_string(answers.timezone)}",
        f"distance_km = {answers.distance_km!r}",
        f"course = {_toml_string(course_file)}",
        f"track = {_toml_string(track_file)}",
    ]
    for wave in answers.waves:
        lines += ["", "[[waves]]", f"wave = {wave.wave}", f'start_local = "{wave.start_local}"']
        if wave.bib_prefix:
            lines.append(f"bib_prefix = {_toml_string(wave.bib_prefix)}")
        if wave.bib_from is not None:
            lines.append(f"bib_from = {wave.bib_from}")
        if wave.bib_to is not None:
            lines.append(f"bib_to = {wave.bib_to}")
    return "\n".join(lines) + "\n"


def course_csv(points: pl.DataFrame) -> str:
    """The course CSV's text (point_id, kind, km, label, beds, position_source, lat, lon)."""
    return points.select(COURSE_COLUMNS).write_csv()
