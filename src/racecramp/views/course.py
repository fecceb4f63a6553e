"""The Course page: one row per aid station and medical tent along the course."""

from __future__ import annotations

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
