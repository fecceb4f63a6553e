"""The km/course rule, written once: is the race known, is the point on its course, is the km
within the course and close to the point's km. The intake answers 422 with these reasons,
the ingest quarantines with the same ones.
"""

from __future__ import annotations

import polars as pl

from racecramp.domain import POINT_KM_TOLERANCE
from racecramp.landing.kinds import KM_MATCHES_POINT, KM_WITHIN_COURSE, POINT_ON_COURSE, RACE_IS_KNOWN
from racecramp.validation.context import ValidationContext

# one row per broken (record, rule): `reason` is the explanation without the "column=value: " head
RULE_FAILURE_SCHEMA = {"_row": pl.Int64, "column": pl.String, "check": pl.String, "value": pl.String, "reason": pl.String}
EXAMPLE_POINTS = 5


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=RULE_FAILURE_SCHEMA)


def race_failures(frame: pl.DataFrame, context: ValidationContext) -> pl.DataFrame:
    """Rows whose race_id is not a known race."""
    if frame.height == 0 or "race_id" not in frame.columns:
        return _empty()
    known = ", ".join(context.race_ids()) or "none"
    unknown = frame.filter(pl.col("race_id").is_not_null() & ~pl.col("race_id").is_in(context.race_ids()))
    return unknown.select(
        pl.col("_row").cast(pl.Int64),
        pl.lit("race_id").alias("column"),
        pl.lit(RACE_IS_KNOWN).alias("check"),
        pl.col("race_id").cast(pl.String).alias("value"),
        pl.lit(f"no such race: expected a race_id that has been imported (racecramp import race); known: {known}").alias("reason"),
    )


def course_failures(frame: pl.DataFrame, context: ValidationContext) -> pl.DataFrame:
    """Known-race rows whose km is beyond the finish, whose point is not on the course, or whose
    km is more than POINT_KM_TOLERANCE from its point's km (frame: _row, race_id, [point_id], [km])."""
    if frame.height == 0 or "race_id" not in frame.columns:
        return _empty()
    has_point, has_km = "point_id" in frame.columns, "km" in frame.columns
    known = frame.filter(pl.col("race_id").is_in(context.race_ids()))
    if known.height == 0 or not (has_point or has_km):
        return _empty()
    course = context.races.select("race_id", pl.col("distance_km").alias("_distance_km"))
    known = known.join(course, on="race_id", how="left")
    failures = []
    if has_km:
        beyond = known.filter(pl.col("km").is_not_null() & (pl.col("km") > pl.col("_distance_km")))
        failures.append(beyond.select(
            pl.col("_row").cast(pl.Int64), pl.lit("km").alias("column"), pl.lit(KM_WITHIN_COURSE).alias("check"),
            pl.col("km").cast(pl.String).alias("value"),
            pl.format("beyond the finish: expected 0 <= km <= {} for {}", _number_text("_distance_km"), "race_id").alias("reason"),
        ))  # fmt: skip
    if has_point:
        points = context.course_points.select("race_id", "point_id", pl.col("km").alias("_point_km"))
        located = known.join(points, on=["race_id", "point_id"], how="left")
        examples = pl.DataFrame(
            {"race_id": context.race_ids(),
             "_examples": [", ".join(context.point_ids(r)[:EXAMPLE_POINTS]) for r in context.race_ids()]},
            schema={"race_id": pl.String, "_examples": pl.String},
        )  # fmt: skip
        off = located.filter(pl.col("point_id").is_not_null() & pl.col("_point_km").is_null()).join(examples, on="race_id", how="left")
        failures.append(off.select(
            pl.col("_row").cast(pl.Int64), pl.lit("point_id").alias("column"), pl.lit(POINT_ON_COURSE).alias("check"),
            pl.col("point_id").cast(pl.String).alias("value"),
            pl.format("not a point of {}'s course (e.g. {})", "race_id", "_examples").alias("reason"),
        ))  # fmt: skip
        if has_km:
            far = located.filter(
                pl.col("_point_km").is_not_null() & pl.col("km").is_not_null()
                & (pl.col("km") <= pl.col("_distance_km"))
                & ((pl.col("km") - pl.col("_point_km")).abs() > POINT_KM_TOLERANCE)
            )
            failures.append(far.select(
                pl.col("_row").cast(pl.Int64), pl.lit("km").alias("column"), pl.lit(KM_MATCHES_POINT).alias("check"),
                pl.col("km").cast(pl.String).alias("value"),
                pl.format("does not match {} at km {} (expected within {} km)", "point_id", _number_text("_point_km"),
                          pl.lit(f"{POINT_KM_TOLERANCE:g}")).alias("reason"),
            ))  # fmt: skip
    return pl.concat(failures, how="vertical").sort("_row", maintain_order=True) if failures else _empty()


def fill_point_km(frame: pl.DataFrame, context: ValidationContext) -> pl.DataFrame:
    """A missing km takes its point's km (a timing feed may send the point only)."""
    if frame.height == 0 or "km" not in frame.columns or frame["km"].null_count() == 0:
        return frame
    points = context.course_points.select("race_id", "point_id", pl.col("km").alias("_point_km"))
    return (
        frame.join(points, on=["race_id", "point_id"], how="left", maintain_order="left")
        .with_columns(pl.coalesce("km", "_point_km").alias("km"))
        .drop("_point_km")
    )


def _number_text(column: str) -> pl.Expr:
    """12.0 -> '12', 8.047 -> '8.047' (as Python's :g would, to 6 significant digits)."""
    rounded = pl.col(column).cast(pl.Float64).round_sig_figs(6)
    return (
        pl.when(rounded == rounded.round(0))
        .then(rounded.cast(pl.Int64).cast(pl.String))
        .otherwise(rounded.cast(pl.String))
    )


def course_rule_failures(frame: pl.DataFrame, context: ValidationContext) -> pl.DataFrame:
    """Every km/course failure of the frame: unknown race, then the course checks."""
    return pl.concat([race_failures(frame, context), course_failures(frame, context)]).sort("_row", maintain_order=True)
