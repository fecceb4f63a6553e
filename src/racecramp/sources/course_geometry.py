"""Course geometry: a track (lat/lon vertices in course order) with the km along it, and the
snapping of places onto it. Pure functions over polars frames; reading GPX/CSV files is in
sources.track_files.

Distances are geodesic on the WGS84 ellipsoid (geographiclib, Karney's algorithm: the same
one pyproj's Geod uses, without the PROJ binary). Haversine on a sphere is off by up to about
0.5 % (some 200 m over a marathon): under the 0.5 km a station may be off its km, but a
measured course's km should not drift that far, and the geodesic costs nothing extra here.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import cos, radians

import numpy as np
import polars as pl
from geographiclib.geodesic import Geodesic

from racecramp.errors import RacecrampError

TRACK_SCHEMA = pl.Schema({"seq": pl.Int32, "km": pl.Float64, "lat": pl.Float64, "lon": pl.Float64})
METRES_PER_DEGREE_LAT = 111_320.0  # local plane for projecting onto one short segment only
# A GPS track of a measured course is never exactly its certified length; more than this apart
# and the file or the distance is wrong (a half-marathon track for a marathon, a warm-up loop).
MAX_LENGTH_MISMATCH = 0.05
# A place this close to the track at two different km (an out-and-back, a loop's start and
# finish) is ambiguous: the organiser must give its km.
AMBIGUOUS_WITHIN_M = 30.0
# A place further than this from every point of the track is not on the course.
MAX_SNAP_DISTANCE_M = 300.0


class CourseGeometryError(RacecrampError, ValueError):
    """A track or a place does not fit; the message names the input, the value and the expectation."""


@dataclass(frozen=True)
class Snap:
    """Where a place lands on the track: km along it, the snapped position, and how far off it was."""

    km: float
    lat: float
    lon: float
    offset_m: float


def geodesic_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance in metres between two WGS84 positions along the ellipsoid."""
    return float(Geodesic.WGS84.Inverse(lat1, lon1, lat2, lon2, Geodesic.DISTANCE)["s12"])


def _check_positions(lat: list[float], lon: list[float], label: str) -> None:
    if len(lat) != len(lon):
        raise CourseGeometryError(f"{label}: {len(lat)} latitudes but {len(lon)} longitudes, expected one of each per point")
    if len(lat) < 2:
        raise CourseGeometryError(f"{label}: {len(lat)} track point(s), expected at least 2 (a start and a finish)")
    for i, (a, b) in enumerate(zip(lat, lon)):
        if a is None or b is None or not (-90 <= a <= 90 and -180 <= b <= 180):
            raise CourseGeometryError(f"{label}: point {i + 1} lat={a!r}, lon={b!r}, expected -90..90 and -180..180 degrees")


def track_from_positions(lat: list[float], lon: list[float], km: list[float] | None = None, label: str = "track") -> pl.DataFrame:
    """A track frame (TRACK_SCHEMA) from vertices in course order; km measured by geodesic when not given."""
    _check_positions(lat, lon, label)
    if km is None:
        steps = [0.0] + [geodesic_m(lat[i - 1], lon[i - 1], lat[i], lon[i]) / 1000.0 for i in range(1, len(lat))]
        km = list(np.cumsum(steps))
    elif len(km) != len(lat):
        raise CourseGeometryError(f"{label}: {len(km)} km values for {len(lat)} points, expected one per point")
    else:
        for i in range(1, len(km)):
            if km[i] is None or km[i - 1] is None or km[i] < km[i - 1]:
                raise CourseGeometryError(
                    f"{label}: point {i + 1} km={km[i]!r} after km={km[i - 1]!r}, expected km not to decrease along the track"
                )
    return pl.DataFrame({"seq": range(len(lat)), "km": km, "lat": lat, "lon": lon}, schema=TRACK_SCHEMA)


def track_length_km(track: pl.DataFrame) -> float:
    """km at the track's last vertex."""
    return float(track["km"][-1])


def scaled_to_distance(track: pl.DataFrame, distance_km: float, label: str = "track") -> pl.DataFrame:
    """The track with km scaled so its end is the certified distance (a GPS track is never exact)."""
    length = track_length_km(track)
    if length <= 0:
        raise CourseGeometryError(f"{label}: length {length:.3f} km, expected a track that goes somewhere")
    mismatch = abs(length - distance_km) / distance_km
    if mismatch > MAX_LENGTH_MISMATCH:
        raise CourseGeometryError(
            f"{label}: measures {length:.3f} km along the track but the race is {distance_km:g} km "
            f"({mismatch:.1%} apart), expected within {MAX_LENGTH_MISMATCH:.0%}: check the file and --distance-km"
        )
    return track.with_columns((pl.col("km") * (distance_km / length)).alias("km"))


def position_at_km(track: pl.DataFrame, km: list[float] | float) -> list[tuple[float, float]]:
    """(lat, lon) at each km along the track, interpolated between vertices (clamped to its ends)."""
    kms = np.atleast_1d(np.asarray(km, dtype=float))
    along = track["km"].to_numpy()
    lats = np.interp(kms, along, track["lat"].to_numpy())
    lons = np.interp(kms, along, track["lon"].to_numpy())
    return [(float(a), float(b)) for a, b in zip(lats, lons)]


def _segment_projection(track: pl.DataFrame, lat: float, lon: float) -> pl.DataFrame:
    """For every segment: the fraction along it nearest the place (local plane) and the km there."""
    lat0 = track["lat"].to_numpy()
    lon0 = track["lon"].to_numpy()
    km = track["km"].to_numpy()
    x_scale = METRES_PER_DEGREE_LAT * cos(radians(lat))
    ax, ay = lon0[:-1] * x_scale, lat0[:-1] * METRES_PER_DEGREE_LAT
    bx, by = lon0[1:] * x_scale, lat0[1:] * METRES_PER_DEGREE_LAT
    px, py = lon * x_scale, lat * METRES_PER_DEGREE_LAT
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(length2 > 0, ((px - ax) * dx + (py - ay) * dy) / length2, 0.0)
    t = np.clip(t, 0.0, 1.0)
    return pl.DataFrame(
        {
            "km": km[:-1] + t * (km[1:] - km[:-1]),
            "lat": lat0[:-1] + t * (lat0[1:] - lat0[:-1]),
            "lon": lon0[:-1] + t * (lon0[1:] - lon0[:-1]),
            "plane_m": np.hypot(ax + t * dx - px, ay + t * dy - py),
        }
    )


def snap_to_track(track: pl.DataFrame, lat: float, lon: float, label: str = "place") -> Snap:
    """The km of the track point nearest (lat, lon); refuses a place far off the course or
    near it at two different km (give its km instead)."""
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise CourseGeometryError(f"{label}: lat={lat!r}, lon={lon!r}, expected -90..90 and -180..180 degrees")
    candidates = _segment_projection(track, lat, lon).sort("plane_m")
    best = candidates.row(0, named=True)
    offset = geodesic_m(lat, lon, best["lat"], best["lon"])
    if offset > MAX_SNAP_DISTANCE_M:
        raise CourseGeometryError(
            f"{label}: lat={lat}, lon={lon} is {offset:.0f} m from the nearest point of the track (km {best['km']:.2f}), "
            f"expected within {MAX_SNAP_DISTANCE_M:.0f} m of the course"
        )
    elsewhere = candidates.filter(
        (pl.col("plane_m") <= best["plane_m"] + AMBIGUOUS_WITHIN_M) & ((pl.col("km") - best["km"]).abs() > 0.5)
    )
    if elsewhere.height:
        other = elsewhere["km"][0]
        raise CourseGeometryError(
            f"{label}: lat={lat}, lon={lon} is as near the track at km {best['km']:.2f} as at km {other:.2f} "
            "(the course passes twice), expected one place: give the station by km instead"
        )
    return Snap(km=float(best["km"]), lat=float(best["lat"]), lon=float(best["lon"]), offset_m=offset)


def simplified(track: pl.DataFrame, tolerance_m: float = 5.0) -> pl.DataFrame:
    """The track with vertices dropped where the line stays within tolerance_m (Douglas-Peucker),
    so a 1-second GPS log becomes a file of a few hundred points; km are kept as measured."""
    lat = track["lat"].to_numpy()
    lon = track["lon"].to_numpy()
    x_scale = METRES_PER_DEGREE_LAT * cos(radians(float(lat.mean())))
    x, y = lon * x_scale, lat * METRES_PER_DEGREE_LAT
    keep = np.zeros(len(lat), dtype=bool)
    keep[0] = keep[-1] = True
    stack = [(0, len(lat) - 1)]
    while stack:
        first, last = stack.pop()
        if last - first < 2:
            continue
        dx, dy = x[last] - x[first], y[last] - y[first]
        norm = np.hypot(dx, dy)
        inner = slice(first + 1, last)
        if norm == 0:
            dist = np.hypot(x[inner] - x[first], y[inner] - y[first])
        else:
            dist = np.abs(dy * (x[inner] - x[first]) - dx * (y[inner] - y[first])) / norm
        worst = int(np.argmax(dist))
        if dist[worst] > tolerance_m:
            split = first + 1 + worst
            keep[split] = True
            stack += [(first, split), (split, last)]
    return track.filter(pl.Series(keep)).with_columns(pl.int_range(pl.len(), dtype=pl.Int32).alias("seq"))
