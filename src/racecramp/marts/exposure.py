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


def _coalesce(exprs: list[pl.Expr], default: pl.Expr | None = None) -> pl.Expr:
    exprs = exprs + ([default] if default is not None else [])
    if not exprs:
        return pl.lit(None, dtype=pl.Float64)
    return exprs[0] if len(exprs) == 1 else pl.coalesce(exprs)


def _race_exposure(race_id: str, runners: pl.LazyFrame, timed: pl.LazyFrame, anchors: pl.DataFrame, course: pl.DataFrame) -> pl.LazyFrame:
    """exposure_by_point for one race: one wide row per runner, then one narrow frame per point.

    Wide, not long: each runner's net time and clock time at every timing point sit in
    columns, filled forward and backward across the columns once, so a course point's
    bracketing passings are two column reads (no as-of join over millions of rows).
    """
    ids = anchors["point_id"].to_list()
    kms = anchors["km"].to_list()
    net = [f"_n{i}" for i in range(len(ids))]
    clock = [f"_t{i}" for i in range(len(ids))]
    wide = timed.group_by("bib").agg(
        *(pl.col("net_time_s").filter(pl.col("point_id") == p).first().alias(n) for p, n in zip(ids, net)),
        *(pl.col("_t_us").filter(pl.col("point_id") == p).first().alias(t) for p, t in zip(ids, clock)),
        pl.col("simulated").any().alias("_sim_p"),
    )
    first_start = _coalesce([pl.col(t) - pl.col(n) * 1e6 for n, t in zip(net, clock)])
    table = (
        runners.join(wide, on="bib", how="left")
        .with_columns(
            pl.coalesce(first_start, pl.col("wave_start_utc").dt.epoch("us").cast(pl.Float64)).alias("_start_t"),
            pl.any_horizontal([pl.col(n).is_not_null() for n in net]).not_().alias("_no_passing")
            if net
            else pl.lit(True).alias("_no_passing"),
            (pl.col("simulated").fill_null(False) | pl.col("_sim_p").fill_null(False)).alias("simulated"),
        )
    )
    # Per anchor i: the latest present passing at or below it (lo_*) and the earliest at or
    # above it (hi_*), filled across columns once, so each course point reads two columns.
    for i, k in enumerate(kms):
        present = pl.col(net[i]).is_not_null()
        table = table.with_columns(
            pl.coalesce(pl.col(net[i]), pl.col(f"_lo_n{i - 1}") if i else pl.lit(0.0)).alias(f"_lo_n{i}"),
            pl.coalesce(pl.col(clock[i]), pl.col(f"_lo_t{i - 1}") if i else pl.col("_start_t")).alias(f"_lo_t{i}"),
            pl.when(present).then(pl.lit(k)).otherwise(pl.col(f"_lo_k{i - 1}") if i else pl.lit(0.0)).alias(f"_lo_k{i}"),
        )
    for i in reversed(range(len(kms))):
        present = pl.col(net[i]).is_not_null()
        last = i == len(kms) - 1
        table = table.with_columns(
            pl.coalesce(pl.col(net[i]), pl.lit(None, pl.Float64) if last else pl.col(f"_hi_n{i + 1}")).alias(f"_hi_n{i}"),
            pl.coalesce(pl.col(clock[i]), pl.lit(None, pl.Float64) if last else pl.col(f"_hi_t{i + 1}")).alias(f"_hi_t{i}"),
            pl.when(present).then(pl.lit(kms[i])).otherwise(pl.lit(None, pl.Float64) if last else pl.col(f"_hi_k{i + 1}")).alias(f"_hi_k{i}"),
        )
    table = table.with_columns((pl.col(f"_lo_k{len(kms) - 1}") if kms else pl.lit(0.0)).alias("_furthest_km"))
    table = table.collect().lazy()

    def to_clock(us: pl.Expr) -> pl.Expr:
        return us.round().cast(pl.Int64).cast(UTC_US)

    frames = [
        table.select(
            pl.lit(race_id).alias("race_id"),
            pl.lit(START_POINT_ID).alias("point_id"),
            pl.lit(START_KIND).alias("kind"),
            pl.lit(0.0).alias("km"),
            "bib",
            to_clock(pl.col("_start_t")).alias("passed_at_utc"),
            pl.lit(0.0).alias("net_time_s"),
            pl.col("_no_passing").alias("time_estimated"),
            "simulated",
        )
    ]
    for point_id, kind, km in course.select("point_id", "kind", "km").iter_rows():
        below = [i for i, k in enumerate(kms) if k <= km]
        above = [i for i, k in enumerate(kms) if k >= km]
        if below:
            lo_n, lo_t, lo_k = pl.col(f"_lo_n{below[-1]}"), pl.col(f"_lo_t{below[-1]}"), pl.col(f"_lo_k{below[-1]}")
        else:
            lo_n, lo_t, lo_k = pl.lit(0.0), pl.col("_start_t"), pl.lit(0.0)
        if above:
            hi_n, hi_t, hi_k = pl.col(f"_hi_n{above[0]}"), pl.col(f"_hi_t{above[0]}"), pl.col(f"_hi_k{above[0]}")
        else:
            hi_n = hi_t = hi_k = pl.lit(None, pl.Float64)
        frac = pl.when(hi_k > lo_k).then((pl.lit(km) - lo_k) / (hi_k - lo_k)).otherwise(0.0)
        own = [i for i in below if ids[i] == point_id]
        exact = pl.col(net[own[0]]).is_not_null() if own else pl.lit(False)
        frames.append(
            table.filter(pl.col("_furthest_km") >= km).select(
                pl.lit(race_id).alias("race_id"),
                pl.lit(point_id).alias("point_id"),
                pl.lit(kind).alias("kind"),
                pl.lit(km, dtype=pl.Float64).alias("km"),
                "bib",
                to_clock(pl.when(hi_t.is_null()).then(lo_t).otherwise(lo_t + frac * (hi_t - lo_t))).alias("passed_at_utc"),
                pl.when(hi_n.is_null()).then(lo_n).otherwise(lo_n + frac * (hi_n - lo_n)).alias("net_time_s"),
                exact.not_().alias("time_estimated"),
                "simulated",
            )
        )
    return pl.concat(frames)


def exposure_by_point(passings: Frame, participants: Frame, course_points: Frame) -> pl.LazyFrame:
    """One row per runner per point passed (start, every course point up to their furthest passing).

    Columns: race_id, point_id, kind, km, bib, passed_at_utc, net_time_s, time_estimated, simulated.
    A point between mats counts as passed when the runner's furthest passing is at or beyond
    its km; its time is interpolated linearly in km between the bracketing passings (the
    start counts as a passing at km 0). `time_estimated` is false only for the runner's own
    passing of that point (and for a start derived from a chip time).
    """
    passings, participants, course_points = passings.lazy(), participants.lazy(), course_points.lazy()
    _require(passings, "passings", ("race_id", "bib", "point_id", "km", "net_time_s", "passed_at_utc", "simulated"))
    _require(participants, "participants", ("race_id", "bib", "wave_start_utc", "simulated"))
    _require(course_points, "course_points", ("race_id", "point_id", "kind", "km"))
    course = course_points.select("race_id", "point_id", "kind", pl.col("km").cast(pl.Float64)).sort("km").collect()
    timed = (
        passings.select(
            "race_id", "bib", "point_id", pl.col("km").cast(pl.Float64), pl.col("net_time_s").cast(pl.Float64),
            pl.col("passed_at_utc").dt.epoch("us").cast(pl.Float64).alias("_t_us"), pl.col("simulated").fill_null(False),
        )
        .join(course.lazy().select("race_id", "point_id", pl.col("km").alias("_course_km")), on=["race_id", "point_id"], how="left")
        .with_columns(pl.coalesce("_course_km", "km").alias("km"))
        .drop("_course_km")
        .collect()
    )  # fmt: skip
    anchors_all = timed.group_by("race_id", "point_id").agg(pl.col("km").first()).sort("km", "point_id")
    runners_all = participants.select(
        "race_id", "bib", pl.col("wave_start_utc").cast(UTC_US), pl.col("simulated").fill_null(False)
    ).collect()
    schema = {"race_id": pl.String, "point_id": pl.String, "kind": pl.String, "km": pl.Float64, "bib": pl.String,
              "passed_at_utc": UTC_US, "net_time_s": pl.Float64, "time_estimated": pl.Boolean, "simulated": pl.Boolean}  # fmt: skip
    parts = [pl.LazyFrame(schema=schema)]
    for (race_id,), runners in runners_all.group_by("race_id", maintain_order=True):
        parts.append(
            _race_exposure(
                race_id,
                runners.lazy().drop("race_id"),
                timed.filter(pl.col("race_id") == race_id).lazy(),
                anchors_all.filter(pl.col("race_id") == race_id),
                course.filter(pl.col("race_id") == race_id),
            )
        )
    return pl.concat(parts)
