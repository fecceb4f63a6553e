"""Runner exposure: the course segments each runner ran, and who passed each point, when.

Every rate needs a denominator of runners who could have presented at a place. Timing mats
give exact passings; aid stations and medical tents lie between mats, so a runner's time
there is interpolated linearly between the passings that bracket the station's km.

Conventions (used by every mart built on these frames):
- Every participant is a starter: each gets a `start` row at km 0. Load only starters into
  `participants` (the results files hold finishers only; a live roster should drop DNS).
- The start crossing is `passed_at_utc - net_time_s` of the runner's first passing, or the
  wave gun time (`wave_start_utc`) for a runner with no passing yet.
- A runner has passed a point when their furthest passing is at or beyond the point's km,
  so a missed mat (no read) still counts, with an interpolated time.
- Course km comes from `course_points` when the passing's point_id is in it.
"""

from __future__ import annotations

import polars as pl

from racecramp.domain import PointKind

START_POINT_ID = "start"
START_KIND = "start"  # the virtual km-0 point added for every starter; not a course point
# Points where a runner can present with a cramp (reports are taken there).
STATION_KINDS = (PointKind.AID_STATION.value, PointKind.MEDICAL_TENT.value)
# Points whose passings are measured (segments run between consecutive ones).
TIMING_KINDS = (PointKind.TIMING_MAT.value, PointKind.FINISH.value)

UTC_US = pl.Datetime("us", "UTC")

Frame = pl.DataFrame | pl.LazyFrame


def _seconds(expr: pl.Expr) -> pl.Expr:
    return pl.duration(microseconds=(expr * 1_000_000).round().cast(pl.Int64))


def _require(frame: pl.LazyFrame, name: str, columns: tuple[str, ...]) -> None:
    have = frame.collect_schema().names()
    missing = [c for c in columns if c not in have]
    if missing:
        raise ValueError(f"{name} has no column {missing[0]!r}; expected the columns of docs/warehouse.md ({', '.join(columns)})")


def _runner_simulated(passings: pl.LazyFrame, participants: pl.LazyFrame) -> pl.LazyFrame:
    """(race_id, bib, simulated): true when the runner's participant row or any passing is simulated."""
    from_passings = passings.group_by("race_id", "bib").agg(pl.col("simulated").any().alias("_sim_p"))
    return (
        participants.select("race_id", "bib", pl.col("simulated").fill_null(False))
        .join(from_passings, on=["race_id", "bib"], how="left")
        .select("race_id", "bib", (pl.col("simulated") | pl.col("_sim_p").fill_null(False)).alias("simulated"))
    )


def passings_with_start(passings: Frame, participants: Frame, course_points: Frame) -> pl.LazyFrame:
    """Each runner's passings plus a `start` row at km 0, sorted by race, bib and km.

    Columns: race_id, bib, point_id, km, net_time_s, passed_at_utc, start_at_utc.
    """
    passings, participants, course_points = passings.lazy(), participants.lazy(), course_points.lazy()
    _require(passings, "passings", ("race_id", "bib", "point_id", "km", "net_time_s", "passed_at_utc"))
    _require(participants, "participants", ("race_id", "bib", "wave_start_utc"))
    _require(course_points, "course_points", ("race_id", "point_id", "kind", "km"))
    course_km = course_points.select("race_id", "point_id", pl.col("km").cast(pl.Float64).alias("_course_km"))
    timed = (
        passings.select(
            "race_id", "bib", "point_id", pl.col("km").cast(pl.Float64), pl.col("net_time_s").cast(pl.Float64), "passed_at_utc"
        )
        .join(course_km, on=["race_id", "point_id"], how="left")
        .with_columns(pl.coalesce("_course_km", "km").alias("km"))
        .drop("_course_km")
    )
    first = (
        timed.sort("km")
        .group_by("race_id", "bib")
        .agg((pl.col("passed_at_utc").first() - _seconds(pl.col("net_time_s").first())).alias("_start_from_chip"))
    )
    start = (
        participants.select("race_id", "bib", "wave_start_utc")
        .join(first, on=["race_id", "bib"], how="left")
        .select(
            "race_id",
            "bib",
            pl.lit(START_POINT_ID).alias("point_id"),
            pl.lit(0.0).alias("km"),
            pl.lit(0.0).alias("net_time_s"),
            pl.coalesce("_start_from_chip", pl.col("wave_start_utc").cast(UTC_US)).alias("passed_at_utc"),
        )
    )
    both = pl.concat([start, timed.join(participants.select("race_id", "bib"), on=["race_id", "bib"], how="semi")])
    return both.with_columns(
        pl.col("passed_at_utc").filter(pl.col("point_id") == START_POINT_ID).first().over("race_id", "bib").alias("start_at_utc")
    ).sort("race_id", "bib", "km")


def runner_segments(
    passings: Frame, participants: Frame, course_points: Frame, race_distance_km: float | None = None
) -> pl.LazyFrame:
    """Per runner, each pair of consecutive passings (the first from the start) as one segment.

    Columns: race_id, bib, from_point, to_point, from_km, to_km, entered_at_utc, left_at_utc,
    net_time_s (at to_point), segment_pace_s_per_km, pace_so_far_s_per_km, declared_pace_s_per_km,
    relative_pace_so_far (pace so far ÷ declared pace), finished, simulated.
    Non-finishers have segments up to their last passing. Paces are null on a zero-length segment.
    `race_distance_km` turns declared_finish_s into a pace; default: the km of the race's finish point.
    """
    participants = participants.lazy()
    course_points = course_points.lazy()
    _require(participants, "participants", ("race_id", "bib", "declared_finish_s", "finished", "simulated"))
    points = passings_with_start(passings, participants, course_points)
    prev = lambda c: pl.col(c).shift(1).over("race_id", "bib")  # noqa: E731
    segments = (
        points.with_columns(
            prev("point_id").alias("from_point"),
            prev("km").alias("from_km"),
            prev("passed_at_utc").alias("entered_at_utc"),
            prev("net_time_s").alias("_from_net_s"),
        )
        .filter(pl.col("from_point").is_not_null())
        .select(
            "race_id",
            "bib",
            "from_point",
            pl.col("point_id").alias("to_point"),
            "from_km",
            pl.col("km").alias("to_km"),
            "entered_at_utc",
            pl.col("passed_at_utc").alias("left_at_utc"),
            "net_time_s",
            pl.when(pl.col("km") > pl.col("from_km"))
            .then((pl.col("net_time_s") - pl.col("_from_net_s")) / (pl.col("km") - pl.col("from_km")))
            .alias("segment_pace_s_per_km"),
            pl.when(pl.col("km") > 0).then(pl.col("net_time_s") / pl.col("km")).alias("pace_so_far_s_per_km"),
        )
    )
    if race_distance_km is None:
        distance = course_points.filter(pl.col("kind") == PointKind.FINISH.value).group_by("race_id").agg(
            pl.col("km").cast(pl.Float64).max().alias("_distance_km")
        )
    else:
        distance = participants.select("race_id").unique().with_columns(pl.lit(float(race_distance_km)).alias("_distance_km"))
    runners = (
        participants.select("race_id", "bib", pl.col("declared_finish_s").cast(pl.Float64), "finished")
        .join(distance, on="race_id", how="left")
        .with_columns((pl.col("declared_finish_s") / pl.col("_distance_km")).alias("declared_pace_s_per_km"))
        .drop("declared_finish_s", "_distance_km")
        .join(_runner_simulated(passings.lazy(), participants), on=["race_id", "bib"], how="left")
    )
    return (
        segments.join(runners, on=["race_id", "bib"], how="left")
        .with_columns((pl.col("pace_so_far_s_per_km") / pl.col("declared_pace_s_per_km")).alias("relative_pace_so_far"))
        .select(
            "race_id", "bib", "from_point", "to_point", "from_km", "to_km", "entered_at_utc", "left_at_utc", "net_time_s",
            "segment_pace_s_per_km", "pace_so_far_s_per_km", "declared_pace_s_per_km", "relative_pace_so_far",
            "finished", "simulated",
        )
    )


def _interpolate(lo: str, hi: str, frac: pl.Expr) -> pl.Expr:
    return pl.when(pl.col(hi).is_null()).then(pl.col(lo)).otherwise(pl.col(lo) + frac * (pl.col(hi) - pl.col(lo)))


def exposure_by_point(passings: Frame, participants: Frame, course_points: Frame) -> pl.LazyFrame:
    """One row per runner per point passed (start, every course point up to their furthest passing).

    Columns: race_id, point_id, kind, km, bib, passed_at_utc, net_time_s, time_estimated, simulated.
    A point between mats counts as passed when the runner's furthest passing is at or beyond
    its km; its time is interpolated linearly in km between the bracketing passings (the
    start counts as a passing at km 0). `time_estimated` is false only for the runner's own
    passing of that point.
    """
    participants, course_points = participants.lazy(), course_points.lazy()
    _require(participants, "participants", ("race_id", "bib", "simulated"))
    points = passings_with_start(passings, participants, course_points)
    anchors = points.select(
        "race_id", "bib", "km", "net_time_s",
        pl.col("passed_at_utc").dt.epoch("us").cast(pl.Float64).alias("_t_us"),
        "point_id",
    )
    furthest = anchors.group_by("race_id", "bib").agg(pl.col("km").max().alias("_furthest_km"))
    course = course_points.select("race_id", "point_id", "kind", pl.col("km").cast(pl.Float64))
    passed = (
        furthest.join(course, on="race_id", how="inner")
        .filter(pl.col("km") <= pl.col("_furthest_km"))
        .drop("_furthest_km")
        .sort("km")
    )
    by_km = anchors.sort("km")
    lo = by_km.rename({"net_time_s": "_lo_net", "_t_us": "_lo_t", "point_id": "_lo_point"}).with_columns(
        pl.col("km").alias("_lo_km")
    )
    hi = by_km.drop("point_id").rename({"net_time_s": "_hi_net", "_t_us": "_hi_t"}).with_columns(pl.col("km").alias("_hi_km"))
    located = (
        passed.join_asof(lo, on="km", by=["race_id", "bib"], strategy="backward", check_sortedness=False)
        .join_asof(hi, on="km", by=["race_id", "bib"], strategy="forward", check_sortedness=False)
        .with_columns(
            pl.when(pl.col("_hi_km") > pl.col("_lo_km"))
            .then((pl.col("km") - pl.col("_lo_km")) / (pl.col("_hi_km") - pl.col("_lo_km")))
            .otherwise(0.0)
            .alias("_frac")
        )
        .select(
            "race_id",
            "point_id",
            "kind",
            "km",
            "bib",
            _interpolate("_lo_t", "_hi_t", pl.col("_frac")).round().cast(pl.Int64).cast(UTC_US).alias("passed_at_utc"),
            _interpolate("_lo_net", "_hi_net", pl.col("_frac")).alias("net_time_s"),
            ((pl.col("_lo_point") != pl.col("point_id")) | (pl.col("_lo_km") != pl.col("km"))).alias("time_estimated"),
        )
    )
    has_passing = passings.lazy().select("race_id", "bib").unique().with_columns(pl.lit(True).alias("_has"))
    start = (
        points.filter(pl.col("point_id") == START_POINT_ID)
        .join(has_passing, on=["race_id", "bib"], how="left")
        .select(
            "race_id",
            "point_id",
            pl.lit(START_KIND).alias("kind"),
            "km",
            "bib",
            "passed_at_utc",
            "net_time_s",
            # exact only when derived from a chip time; the wave gun time is an estimate
            pl.col("_has").is_null().alias("time_estimated"),
        )
    )
    simulated = _runner_simulated(passings.lazy(), participants)
    return pl.concat([start, located]).join(simulated, on=["race_id", "bib"], how="left")
