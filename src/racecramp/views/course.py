"""The Course page: one row per aid station and medical tent along the course, and the map
(the route from the course track, stations, runner density, the leader and the sweeper)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from racecramp.domain import PointKind
from racecramp.marts.hazard import station_catchments
from racecramp.views.shared import for_race

COURSE_COLUMNS = (
    "point_id", "label", "kind", "km", "cases", "runners", "rate_per_1000", "ci_low_per_1000", "ci_high_per_1000",
    "small_count", "runners_approaching", "in_tent_now", "arrivals_next_30m", "expected_cramps_next_30m",
    "expected_cramps_next_30m_lo", "expected_cramps_next_30m_hi", "arrivals_next_60m", "expected_cramps_next_60m",
    "expected_cramps_next_60m_lo", "expected_cramps_next_60m_hi", "beds", "simulated",
)


def course_view(
    course_points: pl.DataFrame | None,
    by_station: pl.DataFrame | None,
    forecast: pl.DataFrame | None,
    runner_status: pl.DataFrame | None,
    race_id: str,
) -> pl.DataFrame | None:
    """One row per aid station and medical tent along the course, by km.

    cases/runners/rate/CI: cramp_rate_by_station. runners_approaching: runners on course
    whose projected position is between the previous station and this one (runner_status).
    in_tent_now: runners whose latest report is at this station with no disposition yet.
    Forecast columns: station_forecast. beds: course_points (null when not configured).
    """
    points = for_race(course_points, race_id)
    if points is None or points.height == 0:
        return None
    stations = station_catchments(points).filter(pl.col("kind") != PointKind.FINISH.value)
    stations = stations.join(points.select("point_id", "beds"), on="point_id", how="left").with_columns(
        pl.col("from_km").alias("_from_km")
    )
    rates = for_race(by_station, race_id)
    if rates is not None:
        stations = stations.join(
            rates.select("point_id", "cases", "runners", "rate_per_1000", "ci_low_per_1000", "ci_high_per_1000",
                         "small_count", pl.col("simulated").alias("_sim_rates")),
            on="point_id", how="left",
        )
    fc = for_race(forecast, race_id)
    forecast_cols = [c for c in COURSE_COLUMNS if c.startswith(("arrivals_next", "expected_cramps_next"))]
    if fc is not None:
        stations = stations.join(
            fc.select("point_id", *forecast_cols, pl.col("simulated").alias("_sim_fc")), on="point_id", how="left"
        )
    status = for_race(runner_status, race_id)
    if status is not None:
        moving = status.filter((pl.col("status") == "on_course") & pl.col("projected_km_now").is_not_null())
        approaching = (
            stations.select("point_id", "_from_km", "km")
            .join(moving.select("projected_km_now"), how="cross")
            .filter((pl.col("projected_km_now") > pl.col("_from_km")) & (pl.col("projected_km_now") <= pl.col("km")))
            .group_by("point_id")
            .len("runners_approaching")
            if moving.height
            else pl.DataFrame(schema={"point_id": pl.String, "runners_approaching": pl.UInt32})
        )
        in_tent = (
            status.filter(pl.col("status") == "in_medical")
            .group_by(pl.col("last_report_point_id").alias("point_id"))
            .len("in_tent_now")
        )
        stations = (
            stations.join(approaching, on="point_id", how="left")
            .join(in_tent, on="point_id", how="left")
            .with_columns(pl.col("runners_approaching", "in_tent_now").fill_null(0).cast(pl.Int64))
        )
    sims = [c for c in ("_sim_rates", "_sim_fc") if c in stations.columns]
    stations = stations.with_columns(
        (pl.any_horizontal(pl.col(sims).fill_null(False)) if sims else pl.lit(False)).alias("simulated")
    )
    return stations.select([c for c in COURSE_COLUMNS if c in stations.columns]).sort("km", "point_id")


# Runner density along the route is counted in bins of this length (a marathon: 42 bins).
DENSITY_BIN_KM = 1.0


@dataclass(frozen=True)
class CourseMap:
    """What the map draws: the route in density bins (bin, km, lat, lon, runners), the stations
    (course_view rows with lat/lon), the start and finish, and where the leader and the sweeper
    (the first and the last runner on course) are projected now (who, km, lat, lon)."""

    route: pl.DataFrame
    stations: pl.DataFrame
    ends: pl.DataFrame
    runners: pl.DataFrame
    on_course: int


def _on_track(track: pl.DataFrame, km: pl.Series) -> tuple[pl.Series, pl.Series]:
    along = track["km"].to_numpy()
    kms = km.cast(pl.Float64).to_numpy()
    return (pl.Series("lat", np.interp(kms, along, track["lat"].to_numpy())),
            pl.Series("lon", np.interp(kms, along, track["lon"].to_numpy())))


def course_map(course_track: pl.DataFrame | None, stations: pl.DataFrame | None, course_points: pl.DataFrame | None,
               runner_status: pl.DataFrame | None, race_id: str) -> CourseMap | None:
    """The map's frames for one race; None when the race has no track (a course file without one)."""
    track = for_race(course_track, race_id)
    if track is None or track.height < 2:
        return None
    track = track.sort("seq").select(pl.col("km").cast(pl.Float64), pl.col("lat").cast(pl.Float64), pl.col("lon").cast(pl.Float64))
    length = float(track["km"].max())
    edges = np.arange(0.0, length, DENSITY_BIN_KM)[1:]
    grid = pl.Series("km", np.unique(np.concatenate([track["km"].to_numpy(), edges, [0.0, length]])))
    lat, lon = _on_track(track, grid)
    vertices = pl.DataFrame([grid, lat, lon])
    last_bin = int(np.ceil(length / DENSITY_BIN_KM)) - 1
    bins = pl.int_range(0, last_bin + 1, eager=True).alias("bin")
    # each bin's line runs from its first edge to its last, so neighbouring bins meet
    route = (
        pl.DataFrame(bins).join(vertices, how="cross")
        .filter((pl.col("km") >= pl.col("bin") * DENSITY_BIN_KM - 1e-9) & (pl.col("km") <= (pl.col("bin") + 1) * DENSITY_BIN_KM + 1e-9))
        .sort("bin", "km")
    )
    status = for_race(runner_status, race_id)
    moving = (
        status.filter((pl.col("status") == "on_course") & pl.col("projected_km_now").is_not_null())
        if status is not None else pl.DataFrame(schema={"projected_km_now": pl.Float64})
    )
    density = moving.select(
        (pl.col("projected_km_now").clip(0, length - 1e-9) // DENSITY_BIN_KM).cast(pl.Int64).alias("bin")
    ).group_by("bin").len("runners")
    route = route.join(density, on="bin", how="left").with_columns(pl.col("runners").fill_null(0).cast(pl.Int64))

    shown = stations if stations is not None else pl.DataFrame(schema={"point_id": pl.String, "km": pl.Float64})
    s_lat, s_lon = _on_track(track, shown["km"])
    shown = shown.with_columns(s_lat, s_lon)
    points = for_race(course_points, race_id)
    if points is not None and {"lat", "lon"} <= set(points.columns):  # where the organiser put it, when known
        placed = points.select("point_id", pl.col("lat").cast(pl.Float64).alias("_lat"), pl.col("lon").cast(pl.Float64).alias("_lon"))
        shown = shown.join(placed, on="point_id", how="left").with_columns(
            pl.coalesce("_lat", "lat").alias("lat"), pl.coalesce("_lon", "lon").alias("lon")
        ).drop("_lat", "_lon")
    ends = pl.DataFrame({"what": ["start", "finish"], "km": [0.0, length]})
    ends = ends.with_columns(*_on_track(track, ends["km"]))
    runners = pl.DataFrame(schema={"who": pl.String, "km": pl.Float64})
    if moving.height:
        runners = pl.DataFrame({"who": ["leader", "sweeper"],
                                "km": [float(moving["projected_km_now"].max()), float(moving["projected_km_now"].min())]})
    runners = runners.with_columns(*_on_track(track, runners["km"]))
    return CourseMap(route=route, stations=shown, ends=ends, runners=runners, on_course=moving.height)
