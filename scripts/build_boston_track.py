"""Build the demo's approximate Boston track (data/course/boston-track.csv) from its waypoints
(data/course/boston-waypoints.csv: the towns and landmarks the course passes, at their mile
marks), and put each course point of data/course/boston.csv on it (lat, lon by km).

Approximate: straight lines between 15 waypoints; km at each waypoint from its mile mark, so a
station's km lands it in the right stretch of road, within a few hundred metres. For a map,
never for navigation. Run: .venv/bin/python scripts/build_boston_track.py
"""

from __future__ import annotations

import polars as pl

from racecramp.data import data_dir
from racecramp.domain import KM_PER_MILE, MARATHON_KM
from racecramp.durable import atomic_write_text
from racecramp.sources.course_geometry import position_at_km, track_from_positions
from racecramp.sources.track_files import write_track

COURSE = data_dir() / "course"


def main() -> None:
    """Write boston-track.csv and the lat/lon columns of boston.csv."""
    waypoints = pl.read_csv(COURSE / "boston-waypoints.csv")
    km = [min(mile * KM_PER_MILE, MARATHON_KM) for mile in waypoints["mile"]]
    track = track_from_positions(waypoints["lat"].to_list(), waypoints["lon"].to_list(), km, label="boston-waypoints.csv")
    write_track(COURSE / "boston-track.csv", track)
    course = pl.read_csv(COURSE / "boston.csv", infer_schema_length=0).drop("lat", "lon", strict=False)
    where = position_at_km(track, course["km"].cast(pl.Float64).to_list())
    course = course.with_columns(pl.Series("lat", [f"{a:.6f}" for a, _ in where]), pl.Series("lon", [f"{b:.6f}" for _, b in where]))
    atomic_write_text(COURSE / "boston.csv", course.write_csv(quote_style="necessary"))


if __name__ == "__main__":
    main()
