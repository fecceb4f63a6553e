"""Course geometry files: a GPX track (gpxpy) or a CSV of lat/lon (with or without km) in,
the track CSV racecramp keeps beside a race file out (seq, km, lat, lon).

Only positions are read: GPX names, times, heart rates and extensions never leave the reader.
"""

from __future__ import annotations

import csv
from pathlib import Path

import gpxpy
import gpxpy.gpx
import polars as pl

from racecramp.durable import atomic_write_text
from racecramp.sources.course_geometry import TRACK_SCHEMA, CourseGeometryError, track_from_positions

LAT_HEADERS = ("lat", "latitude", "y")
LON_HEADERS = ("lon", "lng", "long", "longitude", "x")
KM_HEADERS = ("km", "distance_km", "dist_km")


def read_geometry(path: Path) -> pl.DataFrame:
    """A track frame from a .gpx file or a CSV of lat/lon (km measured by geodesic when absent)."""
    path = Path(path)
    if not path.is_file():
        raise CourseGeometryError(f"{path}: no such file, expected a GPX track or a CSV of lat/lon")
    if path.suffix.lower() == ".gpx":
        return read_gpx(path)
    return read_track_csv(path)


def read_gpx(path: Path) -> pl.DataFrame:
    """Every track point of every track segment in file order (or the route points when the file has no track)."""
    try:
        with open(path, encoding="utf-8") as fh:
            gpx = gpxpy.parse(fh)
    except (gpxpy.gpx.GPXException, UnicodeDecodeError, ValueError) as err:
        raise CourseGeometryError(f"{path.name}: not a readable GPX file ({err})") from err
    points = [p for track in gpx.tracks for segment in track.segments for p in segment.points]
    if not points:
        points = [p for route in gpx.routes for p in route.points]
    if not points:
        raise CourseGeometryError(f"{path.name}: no <trkpt> or <rtept> points, expected the course as a track")
    return track_from_positions([p.latitude for p in points], [p.longitude for p in points], label=path.name)


def read_track_csv(path: Path) -> pl.DataFrame:
    """A CSV with a lat and a lon column (any of the usual header spellings), km optional."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise CourseGeometryError(f"{path.name}: empty, expected a header with lat and lon columns")
    header = [h.strip().lower() for h in rows[0]]

    def column(names: tuple[str, ...], required: bool) -> int | None:
        for name in names:
            if name in header:
                return header.index(name)
        if required:
            raise CourseGeometryError(f"{path.name}: header {rows[0]} has none of {', '.join(names)}, expected a column for each of lat and lon")
        return None

    i_lat, i_lon, i_km = column(LAT_HEADERS, True), column(LON_HEADERS, True), column(KM_HEADERS, False)
    lat, lon, km = [], [], []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        try:
            lat.append(float(row[i_lat]))
            lon.append(float(row[i_lon]))
            if i_km is not None:
                km.append(float(row[i_km]))
        except (ValueError, IndexError):
            raise CourseGeometryError(f"row {line} of {path.name}: {row!r}, expected numbers in the lat, lon (and km) columns") from None
    return track_from_positions(lat, lon, km if i_km is not None else None, label=path.name)


def read_track(path: Path) -> pl.DataFrame:
    """A track CSV as written by write_track (seq, km, lat, lon)."""
    frame = pl.read_csv(path, schema_overrides=dict(TRACK_SCHEMA))
    missing = [c for c in TRACK_SCHEMA if c not in frame.columns]
    if missing:
        raise CourseGeometryError(f"{path}: track has no column(s) {', '.join(missing)}; expected {', '.join(TRACK_SCHEMA)}")
    return frame.select(list(TRACK_SCHEMA)).cast(dict(TRACK_SCHEMA))


def write_track(path: Path, track: pl.DataFrame) -> None:
    """The track CSV (seq, km to the metre, lat/lon to about 1 cm), written atomically."""
    shown = track.select(
        "seq", pl.col("km").round(3), pl.col("lat").round(7), pl.col("lon").round(7)
    )
    atomic_write_text(Path(path), shown.write_csv())
