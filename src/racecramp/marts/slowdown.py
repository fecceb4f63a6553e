"""Late-race slowdown: who ran 35→40 km much slower than their own 5→20 km, per edition and live.

A pace drop late in a marathon marks muscle damage, which precedes cramping (Del Coso et al.
2013, PLoS ONE 8:e57602, used > 15% slowing; our operational threshold is
domain.SLOWDOWN_RATIO = 1.25). The post-race figures need only net split times, so they run
on real results files; `live_distress` flags runners on course now.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from racecramp.domain import SLOWDOWN_RATIO, PointKind
from racecramp.marts.exposure import STATION_KINDS
from racecramp.marts.stats import with_rate_columns

EARLY_FROM_POINT, EARLY_TO_POINT = "mat-05k", "mat-20k"  # the runner's own settled pace
LATE_FROM_POINT, LATE_TO_POINT = "mat-35k", "mat-40k"  # where cramps cluster (onset 35 ± 6 km, Maughan 1986)
FINISH_BAND_S = 1800  # 30-minute finish-time bands

Frame = pl.DataFrame | pl.LazyFrame


def _require(frame: pl.LazyFrame, name: str, columns: tuple[str, ...]) -> None:
    have = frame.collect_schema().names()
    missing = [c for c in columns if c not in have]
    if missing:
        raise ValueError(f"{name} has no column {missing[0]!r}; expected the columns of docs/warehouse.md ({', '.join(columns)})")


def finisher_paces(participants: Frame, passings: Frame) -> pl.LazyFrame:
    """Per finisher with 5K, 20K, 35K and 40K passings: early and late pace and whether they slowed.

    Columns: race_id, bib, official_time_s, early_pace_s_per_km (5→20 km), late_pace_s_per_km
    (35→40 km), late_to_early_ratio, slowed (ratio > SLOWDOWN_RATIO). Runners whose splits do
    not increase (a timing error gives a pace ≤ 0) are left out.
    """
    participants, passings = participants.lazy(), passings.lazy()
    _require(participants, "participants", ("race_id", "bib", "finished", "official_time_s"))
    _require(passings, "passings", ("race_id", "bib", "point_id", "km", "net_time_s"))
    points = (EARLY_FROM_POINT, EARLY_TO_POINT, LATE_FROM_POINT, LATE_TO_POINT)
    at = lambda point, col: pl.col(col).filter(pl.col("point_id") == point).first().alias(f"{col}@{point}")  # noqa: E731
    wide = (
        passings.filter(pl.col("point_id").is_in(points))
        .group_by("race_id", "bib")
        .agg(*(at(p, c) for p in points for c in ("km", "net_time_s")))
    )
    pace = lambda a, b: (  # noqa: E731
        (pl.col(f"net_time_s@{b}") - pl.col(f"net_time_s@{a}")) / (pl.col(f"km@{b}") - pl.col(f"km@{a}"))
    )
    return (
        participants.filter(pl.col("finished").fill_null(False))
        .select("race_id", "bib", pl.col("official_time_s").cast(pl.Float64))
        .join(wide, on=["race_id", "bib"], how="inner")
        .with_columns(
            pace(EARLY_FROM_POINT, EARLY_TO_POINT).alias("early_pace_s_per_km"),
            pace(LATE_FROM_POINT, LATE_TO_POINT).alias("late_pace_s_per_km"),
        )
        .filter((pl.col("early_pace_s_per_km") > 0) & (pl.col("late_pace_s_per_km") > 0))
        .with_columns((pl.col("late_pace_s_per_km") / pl.col("early_pace_s_per_km")).alias("late_to_early_ratio"))
        .with_columns((pl.col("late_to_early_ratio") > SLOWDOWN_RATIO).alias("slowed"))
        .select("race_id", "bib", "official_time_s", "early_pace_s_per_km", "late_pace_s_per_km", "late_to_early_ratio", "slowed")
    )


def _share_columns(frame: pl.LazyFrame) -> pl.LazyFrame:
    """share and its Wilson 95% CI as proportions (not per 1000)."""
    return with_rate_columns(frame, numerator="slowed", denominator="runners").with_columns(
        (pl.col("rate_per_1000") / 1000).alias("share"),
        (pl.col("ci_low_per_1000") / 1000).alias("ci_low"),
        (pl.col("ci_high_per_1000") / 1000).alias("ci_high"),
    )


def late_slowdown_by_edition(participants: Frame, passings: Frame) -> pl.LazyFrame:
    """Per race: finishers with all four splits (runners), how many slowed > 25% late, share, Wilson CI."""
    counts = finisher_paces(participants, passings).group_by("race_id").agg(
        pl.len().alias("runners"),
        pl.col("slowed").sum().alias("slowed"),
        pl.col("late_to_early_ratio").median().alias("median_ratio"),
    )
    return _share_columns(counts).select("race_id", "runners", "slowed", "share", "ci_low", "ci_high", "median_ratio").sort(
        "race_id"
    )


def _clock(seconds: pl.Expr) -> pl.Expr:
    hours = (seconds // 3600).cast(pl.Int64).cast(pl.String)
    minutes = ((seconds % 3600) // 60).cast(pl.Int64).cast(pl.String).str.zfill(2)
    return pl.concat_str(hours, pl.lit(":"), minutes)


def late_slowdown_by_finish_band(participants: Frame, passings: Frame) -> pl.LazyFrame:
    """As late_slowdown_by_edition, per 30-minute official-finish-time band ("3:00–3:30", …)."""
    banded = finisher_paces(participants, passings).with_columns(
        ((pl.col("official_time_s") // FINISH_BAND_S) * FINISH_BAND_S).cast(pl.Int64).alias("band_start_s")
    )
    counts = banded.group_by("race_id", "band_start_s").agg(
        pl.len().alias("runners"),
        pl.col("slowed").sum().alias("slowed"),
        pl.col("late_to_early_ratio").median().alias("median_ratio"),
    )
    return (
        _share_columns(counts)
        .with_columns(
            pl.concat_str(_clock(pl.col("band_start_s")), pl.lit("–"), _clock(pl.col("band_start_s") + FINISH_BAND_S)).alias(
                "finish_band"
            )
        )
        .select("race_id", "finish_band", "band_start_s", "runners", "slowed", "share", "ci_low", "ci_high", "median_ratio")
        .sort("race_id", "band_start_s")
    )


def live_distress(passings: Frame, course_points: Frame, now_utc: datetime) -> pl.LazyFrame:
    """Runners on course whose latest segment pace is > SLOWDOWN_RATIO × their own earlier pace.

    Baseline: the runner's 5→20 km pace once their latest passing is beyond 20K; before that,
    their pace from the start to their previous passing ("first segments"). A runner with a
    single passing has no baseline and is never flagged; finishers are not on course. Only
    passings at or before now_utc count. Where the runner is now is estimated at their
    latest segment pace, capped at the next timing point they have not reached; the next
    station is the first aid station or medical tent at or beyond that km, with its ETA.
    Sorted by slowdown_ratio, worst first.
    """
    if now_utc.tzinfo is None or now_utc.utcoffset() is None:
        raise ValueError(f"live_distress: now_utc={now_utc!r} has no time zone; expected an aware UTC datetime")
    passings, course_points = passings.lazy(), course_points.lazy()
    _require(passings, "passings", ("race_id", "bib", "point_id", "km", "net_time_s", "passed_at_utc"))
    _require(course_points, "course_points", ("race_id", "point_id", "kind", "km"))
    now = pl.lit(now_utc).cast(pl.Datetime("us", "UTC"))
    has_label = "label" in course_points.collect_schema().names()
    course = course_points.select(
        "race_id", "point_id", "kind", pl.col("km").cast(pl.Float64), (pl.col("label") if has_label else pl.lit(None, pl.String)).alias("label")
    )
    seen = passings.filter(pl.col("passed_at_utc") <= now).select(
        "race_id", "bib", "point_id", pl.col("km").cast(pl.Float64), pl.col("net_time_s").cast(pl.Float64), "passed_at_utc"
    )
    at = lambda point, col: pl.col(col).filter(pl.col("point_id") == point).first()  # noqa: E731
    runners = (
        seen.sort("km")
        .group_by("race_id", "bib")
        .agg(
            pl.col("point_id").last().alias("last_point_id"),
            pl.col("km").last().alias("last_km"),
            pl.col("net_time_s").last().alias("_last_net"),
            pl.col("passed_at_utc").last().alias("last_passed_at_utc"),
            pl.col("km").get(-2, null_on_oob=True).alias("_prev_km"),
            pl.col("net_time_s").get(-2, null_on_oob=True).alias("_prev_net"),
            pl.len().alias("_n"),
            ((at(EARLY_TO_POINT, "net_time_s") - at(EARLY_FROM_POINT, "net_time_s"))
             / (at(EARLY_TO_POINT, "km") - at(EARLY_FROM_POINT, "km"))).alias("_pace_5_20"),
            at(EARLY_TO_POINT, "km").alias("_km_20"),
        )  # fmt: skip
    )
    finish_points = course.filter(pl.col("kind") == PointKind.FINISH.value).select("race_id", "point_id")
    timing_km = course.filter(pl.col("kind").is_in((PointKind.TIMING_MAT.value, PointKind.FINISH.value))).select(
        "race_id", pl.col("km").alias("_next_mat_km")
    )
    use_5_20 = pl.col("_pace_5_20").is_not_null() & (pl.col("last_km") > pl.col("_km_20"))
    scored = (
        runners.join(finish_points, left_on=["race_id", "last_point_id"], right_on=["race_id", "point_id"], how="anti")
        .with_columns(
            pl.when(pl.col("_n") >= 2)
            .then((pl.col("_last_net") - pl.col("_prev_net")) / (pl.col("last_km") - pl.col("_prev_km")))
            .otherwise(pl.col("_last_net") / pl.col("last_km"))
            .alias("latest_segment_pace_s_per_km"),
            pl.when(use_5_20)
            .then(pl.col("_pace_5_20"))
            .when(pl.col("_n") >= 2)
            .then(pl.col("_prev_net") / pl.col("_prev_km"))
            .alias("baseline_pace_s_per_km"),
            pl.when(use_5_20)
            .then(pl.lit("5–20 km"))
            .when(pl.col("_n") >= 2)
            .then(pl.lit("start to previous passing"))
            .alias("baseline"),
        )
        .with_columns((pl.col("latest_segment_pace_s_per_km") / pl.col("baseline_pace_s_per_km")).alias("slowdown_ratio"))
        .filter(pl.col("slowdown_ratio") > SLOWDOWN_RATIO)
    )
    next_mat = (
        scored.sort("last_km")
        .join_asof(
            timing_km.sort("_next_mat_km"), left_on="last_km", right_on="_next_mat_km", by="race_id",
            strategy="forward", allow_exact_matches=False, check_sortedness=False,
        )
        .with_columns(
            (
                pl.col("last_km")
                + (now - pl.col("last_passed_at_utc")).dt.total_microseconds() / 1e6 / pl.col("latest_segment_pace_s_per_km")
            )
            .clip(upper_bound=pl.col("_next_mat_km"))
            .alias("estimated_km_now")
        )
    )
    stations = course.filter(pl.col("kind").is_in(STATION_KINDS)).select(
        "race_id",
        pl.col("point_id").alias("next_station_point_id"),
        pl.col("km").alias("next_station_km"),
        pl.col("label").alias("next_station_label"),
    )
    return (
        next_mat.sort("estimated_km_now")
        .join_asof(
            stations.sort("next_station_km"), left_on="estimated_km_now", right_on="next_station_km", by="race_id",
            strategy="forward", check_sortedness=False,
        )
        .with_columns(
            (
                now
                + pl.duration(
                    microseconds=(
                        (pl.col("next_station_km") - pl.col("estimated_km_now")) * pl.col("latest_segment_pace_s_per_km") * 1e6
                    ).round().cast(pl.Int64)
                )
            ).alias("eta_next_station_utc")
        )
        .select(
            "race_id", "bib", "last_point_id", "last_km", "last_passed_at_utc", "latest_segment_pace_s_per_km",
            "baseline_pace_s_per_km", "baseline", "slowdown_ratio", "estimated_km_now", "next_station_point_id",
            "next_station_km", "next_station_label", "eta_next_station_utc",
        )
        .sort("slowdown_ratio", descending=True)
    )
