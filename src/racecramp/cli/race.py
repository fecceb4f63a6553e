"""`racecramp race new`: a race of your own from its course track and a few answers.

Writes <out>/<race_id>.toml, <out>/course.csv and <out>/track.csv (the files sources.race
reads) into a folder the user owns, never into the installed package; then
`racecramp import race <out>/<race_id>.toml` declares it (docs/setup.md).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Optional

import typer

from racecramp.cli.common import console
from racecramp.errors import RacecrampError

race_app = typer.Typer(help="Set up a race: its race file, course points and track.", no_args_is_help=True)


class RaceFolderError(RacecrampError, ValueError):
    """The output folder cannot take the race files; the message says why and what to do."""


def _check_out(out: Path, names: list[str], force: bool) -> Path:
    """The folder to write into: not inside the installed package, no file overwritten unless --force."""
    import racecramp

    package = Path(racecramp.__file__).resolve().parent
    resolved = out.resolve()
    if resolved == package or package in resolved.parents:
        raise RaceFolderError(f"--out {out}: inside the installed racecramp package ({package}), expected a folder of your own")
    existing = [n for n in names if (resolved / n).exists()]
    if existing and not force:
        raise RaceFolderError(f"--out {out}: {', '.join(existing)} already there, expected a new folder (or --force to overwrite)")
    return resolved


@race_app.command("new")
def race_new(
    geometry: Path = typer.Argument(..., help="the course: a GPX track, or a CSV with lat and lon columns (km optional)"),
    race_id: str = typer.Option(..., "--race-id", help="a lowercase slug, e.g. lakeside-2026"),
    name: str = typer.Option(..., "--name", help="the race's name, e.g. 'Lakeside Marathon'"),
    race_date: str = typer.Option(..., "--date", help="race day, YYYY-MM-DD"),
    timezone: str = typer.Option(..., "--timezone", help="IANA time zone of the venue, e.g. Europe/Berlin"),
    wave: list[str] = typer.Option([], "--wave", help="WAVE,HH:MM[,BIBS], e.g. 1,09:00,1-4999 (no BIBS: the start list's wave column decides); repeat"),
    station: list[str] = typer.Option([], "--station", help="KIND;WHERE;LABEL[;BEDS]: KIND aid or medical; WHERE a km, lat,lon (snapped to the track) or finish; repeat"),
    mats: str = typer.Option("5,10,15,20,half,25,30,35,40", "--mats", help="timing mats: km, half, or miles as 13.1mi; those past the finish are left out"),
    distance_km: Optional[float] = typer.Option(None, "--distance-km", help="certified distance (default: the standard distance the track is near, else its length)"),
    out: Optional[Path] = typer.Option(None, "--out", help="folder for the race files (default: ./races/<race_id>)"),
    force: bool = typer.Option(False, "--force", help="overwrite race files already in --out"),
):
    """Write a race file, course CSV and track CSV from a course geometry and the race's answers."""
    from racecramp.durable import atomic_write_text, ensure_dir
    from racecramp.sources import race_definition as rd
    from racecramp.sources.course_geometry import track_length_km
    from racecramp.sources.track_files import read_geometry, write_track

    try:
        day = date.fromisoformat(race_date)
    except ValueError:
        raise rd.RaceDefinitionError(f"--date {race_date!r}: expected YYYY-MM-DD") from None
    track = read_geometry(geometry)
    answers, scaled = rd.race_answers(rd.check_race_id(race_id), name, day, timezone, distance_km, wave, station, mats,
                                      track, geometry.name)
    points = rd.course_points(answers, scaled)
    toml_name, course_name, track_name = f"{answers.race_id}.toml", "course.csv", "track.csv"
    folder = ensure_dir(_check_out(out or Path("races") / answers.race_id, [toml_name, course_name, track_name], force))
    write_track(folder / track_name, scaled)
    atomic_write_text(folder / course_name, rd.course_csv(points))
    atomic_write_text(folder / toml_name, rd.race_toml(answers, course_name, track_name))
    console.print(f"{answers.name} ({answers.race_id}), {answers.race_date}, {answers.distance_km:g} km: "
                  f"track of {scaled.height} points measured {track_length_km(track):.3f} km by geodesic")
    kinds = points.group_by("kind").len().sort("kind")
    console.print("course points: " + ", ".join(f"{n} {k}" for k, n in kinds.iter_rows()))
    for path in (toml_name, course_name, track_name):
        console.print(f"  wrote {folder / path}")
    console.print(f"next: racecramp import race {folder / toml_name}")


def register(app: typer.Typer) -> None:
    app.add_typer(race_app, name="race")
