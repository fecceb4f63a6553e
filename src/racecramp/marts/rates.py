"""Cramp-rate marts: every row has its numerator, its denominator and a Wilson 95% CI.

Columns common to every mart: cases (numerator), runners (denominator), rate_per_1000,
ci_low_per_1000, ci_high_per_1000, small_count (cases < domain.SMALL_COUNT_BELOW),
simulated (true if any contributing report, runner or weather row is simulated, so the UI
labels it) and denominator_kind (what `runners` counts, in words).

Counting rules, the same in every mart (marts.counting, declared once):
- Aid-station and finish-tent presentations count; survey self-reports do not (survey marts only).
- A report counts once: reports are deduplicated by report_id (a retry reuses it; a report_id
  with other content is a conflict, refused before it is stored); a correction supersedes.
- A runner counts once per mart row: several reports with the same bib in one row (one
  segment, one station, one 15-minute bucket…) are one case.
- A report without a bib cannot be linked to a runner. It counts as one case in the marts
  built on place and time (distance, station, WBGT, station load) but not in the marts
  built on runner attributes (pace group, sex × age), where it has no group. A bib that is
  not among the participants is likewise left out of runner-linked marts.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

from racecramp.domain import (
    MARATHON_KM,
    SMALL_COUNT_BELOW,
    RELATIVE_PACE_FAST_BELOW,
    RELATIVE_PACE_SLOW_ABOVE,
    WBGT_BLACK_ABOVE_C,
    WBGT_RED_FROM_C,
    WBGT_WHITE_BELOW_C,
    WBGT_YELLOW_FROM_C,
    PointKind,
    WbgtFlag,
)
from racecramp.marts.counting import counted_reports, roster_holds
from racecramp.marts.exposure import START_KIND, START_POINT_ID, STATION_KINDS, TIMING_KINDS
from racecramp.marts.heat import asof_weather
from racecramp.marts.stats import PER_1000, RATE_COLUMNS, poisson_exceedance, poisson_rate_ci, with_rate_columns

Frame = pl.DataFrame | pl.LazyFrame

MART_TAIL = ("cases", "runners", *RATE_COLUMNS, "simulated", "denominator_kind", "rate_unit")
RUNNERS = "runners"  # what a roster-named denominator says when no roster is given

# Declared-pace bands, min/km, lower edge inclusive. SAFER II (Schwellnus et al., BJSM
# 48:905) found the fastest (< 6 min/km) and slowest (> 7 min/km) bands at higher risk; the
# finer bands below 6 min/km split the competitive field.
DECLARED_PACE_EDGES_S_PER_KM = (270.0, 300.0, 330.0, 360.0, 420.0)
DECLARED_PACE_LABELS = ("<4:30", "4:30–5:00", "5:00–5:30", "5:30–6:00", "6:00–7:00", "≥7:00")
RELATIVE_PACE_LABELS = ("<0.95 (faster than declared)", "0.95–1.05", ">1.05")
# Paces and relative paces are rounded to this many decimals before banding, so float noise
# in the last bit (0.9499999999999999 for a runner exactly at 0.95) cannot move a runner
# across a band edge.
BAND_ROUNDING_DECIMALS = 6
# the half mat sits at half the distance; a course measured to the metre may put it a little past
HALF_MAT_TOLERANCE_KM = 0.05
UNDECLARED = "undeclared"
NO_PASSING = "no passing"
NO_FIRST_HALF_PASSING = "no first-half passing"
# grouping -> what the pace group is, as the labels say it
PACE_GROUPINGS = {
    "declared_pace": "declared pace (min/km)",
    "relative_pace": "pace so far ÷ declared pace",
    "early_pace": "observed first-half pace (min/km), for rosters without declared times",
}

WBGT_FLAG_ORDER = (WbgtFlag.WHITE, WbgtFlag.GREEN, WbgtFlag.YELLOW, WbgtFlag.RED, WbgtFlag.BLACK)
WBGT_BAND_LABELS = {
    WbgtFlag.WHITE.value: f"<{WBGT_WHITE_BELOW_C:g} °C",
    WbgtFlag.GREEN.value: f"{WBGT_WHITE_BELOW_C:g}–{WBGT_YELLOW_FROM_C:g} °C",
    WbgtFlag.YELLOW.value: f"{WBGT_YELLOW_FROM_C:g}–{WBGT_RED_FROM_C:g} °C",
    WbgtFlag.RED.value: f"{WBGT_RED_FROM_C:g}–{WBGT_BLACK_ABOVE_C:g} °C",
    WbgtFlag.BLACK.value: f">{WBGT_BLACK_ABOVE_C:g} °C",
}
NO_WEATHER = "no weather"
KM_UNKNOWN = "km unknown"
STATION_LOAD_BUCKET = "15m"
STATION_LOAD_EXPECTED_BASIS = "runners passing in the bucket × the station's cases per passing runner over the race"


# --------------------------------------------------------------------------- helpers


def _require(frame: pl.LazyFrame, name: str, columns: tuple[str, ...]) -> None:
    have = frame.collect_schema().names()
    missing = [c for c in columns if c not in have]
    if missing:
        raise ValueError(f"{name} has no column {missing[0]!r}; expected the columns of docs/warehouse.md ({', '.join(columns)})")


def _case_counts(reports: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """cases per group: distinct bibs plus each report without a bib; whether any is simulated."""
    return reports.group_by(keys).agg(
        (pl.col("bib").drop_nulls().n_unique() + pl.col("bib").null_count()).alias("cases"),
        pl.col("simulated").any().alias("_sim_reports"),
    )


def _roster_words(frame: pl.LazyFrame, roster: Frame | None) -> pl.LazyFrame:
    """`_roster`: what the race's roster holds (counting.roster_holds: starters or finishers), else "runners"."""
    if roster is None:
        return frame.with_columns(pl.lit(RUNNERS).alias("_roster"))
    holds = roster_holds(roster).select("race_id", pl.col("roster_holds").alias("_roster"))
    return frame.join(holds, on="race_id", how="left").with_columns(pl.col("_roster").fill_null(RUNNERS))


def _finish_mart(frame: pl.LazyFrame, keys: list[str], denominator_kind: str, roster: Frame | None = None) -> pl.LazyFrame:
    """Fill empty counts with 0, add the rate columns, the simulated label, the denominator text and the
    rate's unit. `{roster}` in denominator_kind becomes what the roster holds ("finishers in the group")."""
    out = _roster_words(frame, roster).with_columns(
        pl.col("cases").fill_null(0).cast(pl.Int64),
        pl.col("runners").fill_null(0).cast(pl.Int64),
        (pl.col("_sim_reports").fill_null(False) | pl.col("_sim_runners").fill_null(False)).alias("simulated"),
        pl.format(denominator_kind.replace("{roster}", "{}"), *(["_roster"] * denominator_kind.count("{roster}")))
        .alias("denominator_kind") if "{roster}" in denominator_kind else pl.lit(denominator_kind).alias("denominator_kind"),
        pl.format("per 1000 {}", "_roster").alias("rate_unit"),
    )
    return with_rate_columns(out).select(*keys, *MART_TAIL)


def _point_counts(exposure: Frame) -> pl.LazyFrame:
    """Runners who passed each point, and whether any of them is simulated."""
    return exposure.lazy().group_by("race_id", "point_id").agg(
        pl.col("kind").first(), pl.col("km").first(), pl.len().alias("runners"), pl.col("simulated").any().alias("_sim_runners")
    )


def _km_label(km: float) -> str:
    return f"{km:g}" if float(km).is_integer() else f"{km:.1f}"


# --------------------------------------------------------------------------- by distance


def course_segments(timing_points: pl.DataFrame) -> pl.DataFrame:
    """Segments between consecutive timing points of each race, from the start, plus finish/after.

    Input: race_id, point_id, kind, km of the timing mats and finish. Output: race_id,
    segment, segment_order, from_point, to_point, from_km, to_km.
    """
    rows = []
    for race_id, points in timing_points.sort("race_id", "km").group_by("race_id", maintain_order=True):
        chain = [(START_POINT_ID, START_KIND, 0.0)] + list(zip(points["point_id"], points["kind"], points["km"].cast(pl.Float64)))
        for i, (point_id, kind, km) in enumerate(chain):
            label_from = _km_label(km)
            if i + 1 < len(chain):
                to_id, to_kind, to_km = chain[i + 1]
                label_to = "finish" if to_kind == PointKind.FINISH.value else _km_label(to_km)
                segment = f"{label_from}–{label_to}"
            else:
                to_id, to_km = None, None
                segment = "finish/after" if kind == PointKind.FINISH.value else f"{label_from}/after"
            rows.append(
                {"race_id": race_id[0], "segment": segment, "segment_order": i, "from_point": point_id,
                 "to_point": to_id, "from_km": km, "to_km": to_km}
            )
    schema = {"race_id": pl.String, "segment": pl.String, "segment_order": pl.Int64, "from_point": pl.String,
              "to_point": pl.String, "from_km": pl.Float64, "to_km": pl.Float64}
    return pl.DataFrame(rows, schema=schema)


def cramp_rate_by_distance(reports: Frame, exposure: Frame, course_points: Frame | None = None,
                           roster: Frame | None = None) -> pl.LazyFrame:
    """Cramp cases per 1000 runners who entered each course segment between timing points (named
    starters or finishers by what the `roster` (participants) holds).

    A runner entered a segment when they passed its starting point (the start, a mat, the
    finish for "finish/after"). A report is placed by its km (or its point's km when the km is
    missing): from_km <= km < to_km; at or after the finish km it is "finish/after". Reports
    with no usable km are one "km unknown" row with no denominator. Timing points come from
    `course_points` when given (so segments nobody has reached yet still appear), else from
    the points present in `exposure`.
    """
    exposure = exposure.lazy()
    source = course_points.lazy() if course_points is not None else exposure
    timing = (
        source.filter(pl.col("kind").is_in(TIMING_KINDS))
        .select("race_id", "point_id", "kind", pl.col("km").cast(pl.Float64))
        .unique()
        .collect()
    )
    segments = course_segments(timing).lazy()
    point_km = source.select("race_id", "point_id", pl.col("km").cast(pl.Float64).alias("_point_km")).unique(
        subset=["race_id", "point_id"]
    )
    placed = (
        counted_reports(reports)
        .join(point_km, on=["race_id", "point_id"], how="left")
        .with_columns(pl.coalesce("km", "_point_km").alias("_place_km"))
    )
    located = (
        placed.filter(pl.col("_place_km").is_not_null() & (pl.col("_place_km") >= 0))
        .sort("_place_km")
        .join_asof(
            segments.select("race_id", "segment", pl.col("from_km").alias("_seg_km")).sort("_seg_km"),
            left_on="_place_km",
            right_on="_seg_km",
            by="race_id",
            strategy="backward",
            check_sortedness=False,
        )
    )
    unplaced = placed.filter(pl.col("_place_km").is_null() | (pl.col("_place_km") < 0)).with_columns(
        pl.lit(KM_UNKNOWN).alias("segment")
    )
    cases = _case_counts(pl.concat([located.select(unplaced.collect_schema().names()), unplaced]), ["race_id", "segment"])
    entered = _point_counts(exposure).select(
        "race_id", pl.col("point_id").alias("from_point"), "runners", "_sim_runners"
    )
    rows = segments.join(entered, on=["race_id", "from_point"], how="left").join(cases, on=["race_id", "segment"], how="left")
    unknown = cases.filter(pl.col("segment") == KM_UNKNOWN).with_columns(
        pl.lit(10_000, dtype=pl.Int64).alias("segment_order"),
        pl.lit(None, dtype=pl.String).alias("from_point"),
        pl.lit(None, dtype=pl.String).alias("to_point"),
        pl.lit(None, dtype=pl.Float64).alias("from_km"),
        pl.lit(None, dtype=pl.Float64).alias("to_km"),
        pl.lit(None, dtype=pl.UInt32).alias("runners"),
        pl.lit(False).alias("_sim_runners"),
    )
    rows = pl.concat([rows, unknown], how="diagonal_relaxed")
    keys = ["race_id", "segment", "segment_order", "from_point", "to_point", "from_km", "to_km"]
    return _finish_mart(rows, keys, "{roster} who entered the segment", roster).sort("race_id", "segment_order")


# --------------------------------------------------------------------------- by station


def cramp_rate_by_station(reports: Frame, exposure: Frame, roster: Frame | None = None) -> pl.LazyFrame:
    """Cramp cases per 1000 runners who passed each aid station / medical tent.

    Rows: every station in `exposure` plus any other point a report names (a mat or the
    finish line, if a report was entered there). Reports without a point_id are left out.
    """
    counts = _point_counts(exposure)
    cases = _case_counts(counted_reports(reports).filter(pl.col("point_id").is_not_null()), ["race_id", "point_id"])
    keys = pl.concat(
        [
            counts.filter(pl.col("kind").is_in(STATION_KINDS)).select("race_id", "point_id"),
            cases.select("race_id", "point_id"),
        ]
    ).unique()
    rows = keys.join(counts, on=["race_id", "point_id"], how="left").join(cases, on=["race_id", "point_id"], how="left")
    return _finish_mart(rows, ["race_id", "point_id", "kind", "km"], "{roster} who passed the point", roster).sort(
        "race_id", "km", "point_id", nulls_last=True
    )


# --------------------------------------------------------------------------- by pace group


def _declared_band(pace: pl.Expr) -> pl.Expr:
    pace = pace.round(BAND_ROUNDING_DECIMALS)
    expr = pl.when(pace.is_null()).then(pl.lit(UNDECLARED))
    for edge, label in zip(DECLARED_PACE_EDGES_S_PER_KM, DECLARED_PACE_LABELS):
        expr = expr.when(pace < edge).then(pl.lit(label))
    return expr.otherwise(pl.lit(DECLARED_PACE_LABELS[-1]))


def _relative_band(declared_pace: pl.Expr, relative: pl.Expr) -> pl.Expr:
    relative = relative.round(BAND_ROUNDING_DECIMALS)
    return (
        pl.when(declared_pace.is_null())
        .then(pl.lit(UNDECLARED))
        .when(relative.is_null())
        .then(pl.lit(NO_PASSING))
        .when(relative < RELATIVE_PACE_FAST_BELOW)
        .then(pl.lit(RELATIVE_PACE_LABELS[0]))
        .when(relative <= RELATIVE_PACE_SLOW_ABOVE)
        .then(pl.lit(RELATIVE_PACE_LABELS[1]))
        .otherwise(pl.lit(RELATIVE_PACE_LABELS[2]))
    )


def _first_linked_reports(reports: Frame, participants: pl.LazyFrame) -> pl.LazyFrame:
    """Each participant's first report (earliest time, then report_id), bib-linked only."""
    return (
        counted_reports(reports)
        .filter(pl.col("bib").is_not_null())
        .join(participants.select("race_id", "bib"), on=["race_id", "bib"], how="semi")
        .sort("race_id", "bib", "reported_at_utc", "report_id", nulls_last=True)
        .unique(subset=["race_id", "bib"], keep="first", maintain_order=True)
    )


def cramp_rate_by_pace_group(
    reports: Frame, participants: Frame, passings: Frame, race_distance_km: float | Frame = MARATHON_KM
) -> pl.LazyFrame:
    """Cramped runners per 1000 starters by declared-pace band and by relative pace.

    grouping = "declared_pace": declared pace = declared_finish_s / race_distance_km, banded
    <4:30 … ≥7:00 min/km (lower edges inclusive); no declared time → "undeclared".
    Denominator: starters in the band. Cases: runners in the band with a bib-linked report.

    grouping = "relative_pace": relative pace = actual pace so far (net_time_s / km at a
    passing) ÷ declared pace, banded by domain.RELATIVE_PACE_FAST_BELOW/SLOW_ABOVE.
    - A case is banded at its first report, using the runner's last passing at or before the
      report's km (or, with no km, before the report's time); a report before the first mat
      uses the first passing.
    - Denominator choice: each starter is banded once, at their furthest passing, i.e. by how
      they ran the whole of the race they ran. A case may therefore sit in a different band
      from the one its runner is counted in (someone fast at the cramp but slow overall);
      we accept that so every starter is counted exactly once. Starters with no passing are
      "no passing". Runners with a synthetic declared time (declared_is_synthetic) are
      banded like the others.

    grouping = "early_pace": the runner's observed pace over the first half (net time ÷ km at their
    furthest passing at or before half the race distance), banded like the declared pace; no such
    passing → "no first-half passing". Real results carry no declared times, so this is the
    grouping that says something there; a runner is banded once, by how they ran the first half.

    race_distance_km: one distance for every race, or the races frame (race_id, distance_km).
    """
    participants = participants.lazy()
    passings = passings.lazy()
    _require(participants, "participants", ("race_id", "bib", "declared_finish_s", "simulated"))
    _require(passings, "passings", ("race_id", "bib", "km", "net_time_s", "passed_at_utc"))
    pace = passings.filter(pl.col("km") > 0).select(
        "race_id", "bib", pl.col("km").cast(pl.Float64), "passed_at_utc",
        (pl.col("net_time_s").cast(pl.Float64) / pl.col("km").cast(pl.Float64)).alias("_pace_so_far"),
    )  # fmt: skip
    furthest = pace.group_by("race_id", "bib").agg(
        pl.col("_pace_so_far").get(pl.col("km").arg_max()).alias("_pace_so_far"),
        pl.col("_pace_so_far").get(pl.col("km").arg_min()).alias("_first_pace"),
    )
    if isinstance(race_distance_km, (int, float)):
        distances = participants.select("race_id").unique().with_columns(pl.lit(float(race_distance_km)).alias("_distance_km"))
    else:
        distances = race_distance_km.lazy().select("race_id", pl.col("distance_km").cast(pl.Float64).alias("_distance_km"))
    first_half = pace.join(distances, on="race_id", how="left").filter(
        pl.col("km") <= pl.col("_distance_km") / 2 + HALF_MAT_TOLERANCE_KM
    ).group_by("race_id", "bib").agg(
        pl.col("_pace_so_far").get(pl.col("km").arg_max()).alias("_early_pace")
    )
    # materialised once: both groupings and the cases read it
    runners = (
        participants.join(distances, on="race_id", how="left").select(
            "race_id",
            "bib",
            (pl.col("declared_finish_s").cast(pl.Float64) / pl.col("_distance_km")).alias("declared_pace_s_per_km"),
            pl.col("simulated").fill_null(False).alias("_sim"),
        )
        .join(furthest, on=["race_id", "bib"], how="left")
        .join(first_half, on=["race_id", "bib"], how="left")
        .with_columns(
            _declared_band(pl.col("declared_pace_s_per_km")).alias("_declared_band"),
            pl.when(pl.col("_early_pace").is_null()).then(pl.lit(NO_FIRST_HALF_PASSING))
            .otherwise(_declared_band(pl.col("_early_pace"))).alias("_early_band"),
            _relative_band(
                pl.col("declared_pace_s_per_km"), pl.col("_pace_so_far") / pl.col("declared_pace_s_per_km")
            ).alias("_relative_band"),
        )
        .collect()
        .lazy()
    )

    firsts = _first_linked_reports(reports, participants).collect().lazy()
    case_passings = pace.join(firsts.select("race_id", "bib"), on=["race_id", "bib"], how="semi").collect().lazy()
    km_at_time = (
        firsts.select("race_id", "bib", "report_id", "reported_at_utc")
        .sort("reported_at_utc")
        .join_asof(
            case_passings.select("race_id", "bib", "passed_at_utc", pl.col("km").alias("_km_by_time")).sort("passed_at_utc"),
            left_on="reported_at_utc", right_on="passed_at_utc", by=["race_id", "bib"], strategy="backward",
            check_sortedness=False,
        )
        .select("report_id", "_km_by_time")
    )  # fmt: skip
    case_pace = (
        firsts.join(km_at_time, on="report_id", how="left")
        .with_columns(pl.coalesce("km", "_km_by_time").alias("_report_km"))
        .sort("_report_km", nulls_last=True)
        .join_asof(
            case_passings.select("race_id", "bib", pl.col("km").alias("_pass_km"), "_pace_so_far").sort("_pass_km"),
            left_on="_report_km", right_on="_pass_km", by=["race_id", "bib"], strategy="backward",
            check_sortedness=False,
        )
        .join(
            runners.select("race_id", "bib", "declared_pace_s_per_km", "_declared_band", "_first_pace", "_early_band"),
            on=["race_id", "bib"], how="left",
        )
        .with_columns(
            _relative_band(
                pl.col("declared_pace_s_per_km"),
                pl.coalesce("_pace_so_far", "_first_pace") / pl.col("declared_pace_s_per_km"),
            ).alias("_relative_band")
        )
    )  # fmt: skip

    out = []
    for grouping, band_col, labels in (
        ("declared_pace", "_declared_band", (*DECLARED_PACE_LABELS, UNDECLARED)),
        ("relative_pace", "_relative_band", (*RELATIVE_PACE_LABELS, UNDECLARED, NO_PASSING)),
        ("early_pace", "_early_band", (*DECLARED_PACE_LABELS, NO_FIRST_HALF_PASSING)),
    ):
        bands = pl.LazyFrame({"pace_group": list(labels), "band_order": list(range(len(labels)))})
        grid = participants.select("race_id").unique().join(bands, how="cross")
        denominators = runners.group_by("race_id", pl.col(band_col).alias("pace_group")).agg(
            pl.len().alias("runners"), pl.col("_sim").any().alias("_sim_runners")
        )
        cases = _case_counts(case_pace.rename({band_col: "pace_group"}), ["race_id", "pace_group"])
        rows = (
            grid.join(denominators, on=["race_id", "pace_group"], how="left")
            .join(cases, on=["race_id", "pace_group"], how="left")
            .with_columns(pl.lit(grouping).alias("grouping"))
        )
        out.append(_finish_mart(rows, ["race_id", "grouping", "pace_group", "band_order"], "{roster} in the group",
                                participants))
    return pl.concat(out).sort("race_id", "grouping", "band_order")


# --------------------------------------------------------------------------- by WBGT


PERSON_TIME_BIN = "1m"  # person-time is summed exactly per minute; each minute is banded by the WBGT at its middle
RUNNER_HOURS_UNIT = "per 1000 runner-hours"


def runner_intervals(exposure: Frame) -> pl.LazyFrame:
    """Each runner's time on course: from the start crossing to the furthest point passed (race_id,
    bib, on_course_from_utc, on_course_to_utc, simulated). Times at stations are interpolated between
    mats (exposure_by_point); a runner who stopped is at risk up to their last passing only."""
    return (
        exposure.lazy()
        .filter(pl.col("passed_at_utc").is_not_null())
        .group_by("race_id", "bib")
        .agg(
            pl.col("passed_at_utc").filter(pl.col("point_id") == START_POINT_ID).first().alias("on_course_from_utc"),
            pl.col("passed_at_utc").sort_by("km").last().alias("on_course_to_utc"),
            pl.col("simulated").any(),
        )
        .filter(pl.col("on_course_to_utc") > pl.col("on_course_from_utc"))
    )


def _person_minutes(intervals: pl.DataFrame) -> pl.DataFrame:
    """Per race and minute bin: runner-hours spent on course in it, exactly (each runner's overlap
    with the bin, summed), and the bin's middle (where it is banded)."""
    rows = []
    for (race_id,), part in intervals.group_by("race_id", maintain_order=True):
        starts = np.sort(part["on_course_from_utc"].dt.epoch("us").to_numpy().astype(float))
        ends = np.sort(part["on_course_to_utc"].dt.epoch("us").to_numpy().astype(float))
        step = 60e6
        edges = np.arange(np.floor(starts.min() / step) * step, np.ceil(ends.max() / step) * step + step, step)
        cum_s, cum_e = np.concatenate([[0.0], np.cumsum(starts)]), np.concatenate([[0.0], np.cumsum(ends)])
        n_s, n_e = np.searchsorted(starts, edges), np.searchsorted(ends, edges)
        # F(t) = person-time up to t = sum over started runners (t - start) - sum over ended runners (t - end)
        f = (n_s * edges - cum_s[n_s]) - (n_e * edges - cum_e[n_e])
        hours = np.diff(f) / 3600e6
        rows.append(pl.DataFrame({
            "race_id": [race_id] * len(hours),
            "_mid_utc": pl.Series((edges[:-1] + step / 2).astype(np.int64)).cast(pl.Datetime("us", "UTC")),
            "_hours": hours,
        }))
    schema = {"race_id": pl.String, "_mid_utc": pl.Datetime("us", "UTC"), "_hours": pl.Float64}
    return pl.concat(rows).filter(pl.col("_hours") > 0) if rows else pl.DataFrame(schema=schema)


def cramp_rate_by_wbgt(reports: Frame, exposure: Frame, weather_with_heat: Frame) -> pl.LazyFrame:
    """Cramp cases per 1000 runner-hours spent on course in each ACSM WBGT flag band (person-time at risk).

    Person-time: each runner is at risk from their start crossing to their furthest passing
    (runner_intervals; station times interpolated between mats); it is summed exactly per minute and
    each minute is banded by the WBGT at its middle. A report is banded by the WBGT at its
    reported_at_utc. WBGT comes from heat.asof_weather (one source per race, interpolated between
    the observations around the time within its tolerance); time with no observation forms a
    "no weather" band. `runners`: runners on course at some time in the band. The 95% CI is the
    exact Poisson interval (stats.poisson_rate_ci): a runner can be at risk for any length of time,
    so a binomial interval does not apply. Weather rows must carry race_id.
    """
    weather = weather_with_heat.lazy()
    _require(weather, "weather", ("race_id", "observed_at_utc", "source", "wbgt_c", "wbgt_flag"))
    weather_simulated = (
        pl.col("simulated").fill_null(False) if "simulated" in weather.collect_schema().names() else pl.lit(False).alias("simulated")
    )
    weather = weather.select("race_id", "observed_at_utc", "source", "wbgt_c", "wbgt_flag", weather_simulated)
    intervals = runner_intervals(exposure).collect()
    minutes = asof_weather(_person_minutes(intervals).lazy(), weather, "_mid_utc", by="race_id").with_columns(
        pl.col("wbgt_flag").fill_null(NO_WEATHER), pl.col("weather_simulated").fill_null(False)
    ).collect()
    # runners on course at some time in the band: a runner overlaps a band when their interval meets one
    # of its runs of consecutive minutes (a handful per race)
    runs = (
        minutes.sort("race_id", "_mid_utc")
        .with_columns((pl.col("wbgt_flag") != pl.col("wbgt_flag").shift(1).over("race_id")).fill_null(True)
                      .cum_sum().over("race_id").alias("_run"))
        .group_by("race_id", "_run", "wbgt_flag")
        .agg((pl.col("_mid_utc").min() - pl.duration(seconds=30)).alias("_from"),
             (pl.col("_mid_utc").max() + pl.duration(seconds=30)).alias("_to"))
    )
    overlap = (
        intervals.lazy().join(runs.lazy(), on="race_id", how="inner")
        .filter((pl.col("_from") < pl.col("on_course_to_utc")) & (pl.col("_to") > pl.col("on_course_from_utc")))
        .group_by("race_id", "wbgt_flag")
        .agg(pl.col("bib").n_unique().alias("runners"), pl.col("simulated").any().alias("_sim_people"))
    )
    denominators = (
        minutes.lazy().group_by("race_id", "wbgt_flag")
        .agg(pl.col("_hours").sum().alias("runner_hours"), pl.col("weather_simulated").any().alias("_sim_weather"))
        .join(overlap, on=["race_id", "wbgt_flag"], how="left")
        .with_columns((pl.col("_sim_weather") | pl.col("_sim_people").fill_null(False)).alias("_sim_runners"))
    )
    banded_reports = asof_weather(
        counted_reports(reports).select("race_id", "report_id", "bib", "reported_at_utc", "simulated"),
        weather, "reported_at_utc", by="race_id",
    ).with_columns(
        pl.col("wbgt_flag").fill_null(NO_WEATHER),
        (pl.col("simulated") | pl.col("weather_simulated").fill_null(False)).alias("simulated"),
    )
    cases = _case_counts(banded_reports, ["race_id", "wbgt_flag"])
    flags = [f.value for f in WBGT_FLAG_ORDER]
    bands = pl.LazyFrame(
        {"wbgt_flag": flags, "wbgt_band": [WBGT_BAND_LABELS[f] for f in flags], "band_order": list(range(len(flags)))}
    )
    races = pl.concat([denominators.select("race_id"), cases.select("race_id")]).unique()
    grid = pl.concat(
        [
            races.join(bands, how="cross"),
            pl.concat([denominators.select("race_id", "wbgt_flag"), cases.select("race_id", "wbgt_flag")])
            .filter(pl.col("wbgt_flag") == NO_WEATHER)
            .unique()
            .with_columns(pl.lit(NO_WEATHER).alias("wbgt_band"), pl.lit(len(flags), dtype=pl.Int64).alias("band_order")),
        ]
    )
    rows = (
        grid.join(denominators, on=["race_id", "wbgt_flag"], how="left").join(cases, on=["race_id", "wbgt_flag"], how="left")
        .with_columns(
            pl.col("cases").fill_null(0).cast(pl.Int64), pl.col("runners").fill_null(0).cast(pl.Int64),
            pl.col("runner_hours").fill_null(0.0),
            (pl.col("_sim_reports").fill_null(False) | pl.col("_sim_runners").fill_null(False)).alias("simulated"),
            pl.lit("runner-hours on course in the band").alias("denominator_kind"),
            pl.lit(RUNNER_HOURS_UNIT).alias("rate_unit"),
        )
        .collect()
    )
    hours = rows["runner_hours"].to_numpy()
    k = rows["cases"].to_numpy().astype(float)
    low, high = poisson_rate_ci(k, hours)
    rate = np.where(hours > 0, k / np.where(hours > 0, hours, 1.0) * PER_1000, np.nan)
    rows = rows.with_columns(
        pl.Series("rate_per_1000", rate).fill_nan(None),
        pl.Series("ci_low_per_1000", low * PER_1000).fill_nan(None),
        pl.Series("ci_high_per_1000", high * PER_1000).fill_nan(None),
        (pl.col("cases") < SMALL_COUNT_BELOW).alias("small_count"),
    )
    keys = ["race_id", "wbgt_flag", "wbgt_band", "band_order"]
    return rows.lazy().select(*keys, "cases", "runners", "runner_hours", *RATE_COLUMNS, "simulated", "denominator_kind",
                              "rate_unit").sort("race_id", "band_order")


# --------------------------------------------------------------------------- by sex and age


def cramp_rate_by_sex_age(reports: Frame, participants: Frame) -> pl.LazyFrame:
    """Cramped runners per 1000 starters by sex × age band (bib-linked reports only)."""
    participants = participants.lazy()
    _require(participants, "participants", ("race_id", "bib", "sex", "age_band", "simulated"))
    groups = participants.select("race_id", "bib", "sex", "age_band", pl.col("simulated").fill_null(False).alias("_sim"))
    denominators = groups.group_by("race_id", "sex", "age_band").agg(
        pl.len().alias("runners"), pl.col("_sim").any().alias("_sim_runners")
    )
    linked = counted_reports(reports).join(groups.select("race_id", "bib", "sex", "age_band"), on=["race_id", "bib"], how="inner")
    cases = _case_counts(linked, ["race_id", "sex", "age_band"])
    rows = denominators.join(cases, on=["race_id", "sex", "age_band"], how="left", nulls_equal=True)
    return _finish_mart(rows, ["race_id", "sex", "age_band"], "{roster} in the group", participants).sort(
        "race_id", "sex", "age_band", nulls_last=True
    )


# --------------------------------------------------------------------------- station load


def station_load_15m(reports: Frame, exposure: Frame, now_utc: datetime | None = None,
                     windows: Frame | None = None) -> pl.LazyFrame:
    """Per station per 15-minute bucket: cramp cases observed against those expected, and how surprising.

    Buckets are [bucket_start_utc, bucket_end_utc), cut on the quarter hour, from each race's
    first to its last report or station passing (or to now_utc's bucket), zero-filled. With
    now_utc, reports and passings after it are ignored and `bucket_complete` is false for the
    bucket still running. The cases at a tent are not a subset of the runners who passed it in
    the bucket (treatment takes time, a runner walks back), so no proportion is shown: `expected`
    is the runners passing in the bucket times the station's cases per passing runner over the
    race so far (a flat-rate Poisson model), `p_exceed` = P(X >= observed | Poisson(expected)).
    """
    if now_utc is not None and (now_utc.tzinfo is None or now_utc.utcoffset() is None):
        raise ValueError(f"station_load_15m: now_utc={now_utc!r} has no time zone; expected an aware UTC datetime")
    bucket = lambda c: pl.col(c).dt.truncate(STATION_LOAD_BUCKET).alias("bucket_start_utc")  # noqa: E731
    rep = counted_reports(reports).filter(pl.col("point_id").is_not_null() & pl.col("reported_at_utc").is_not_null())
    passes = exposure.lazy().filter(pl.col("kind").is_in(STATION_KINDS) & pl.col("passed_at_utc").is_not_null())
    if windows is not None:  # buckets only inside each race's window (validation.windows): never years of them
        bounds = windows.lazy().select("race_id", "window_start_utc", "window_end_utc")
        inside = lambda frame, c: frame.join(bounds, on="race_id", how="inner").filter(  # noqa: E731
            pl.col(c).is_between(pl.col("window_start_utc"), pl.col("window_end_utc"))).drop("window_start_utc", "window_end_utc")
        rep, passes = inside(rep, "reported_at_utc"), inside(passes, "passed_at_utc")
    if now_utc is not None:
        now = pl.lit(now_utc).cast(pl.Datetime("us", "UTC"))
        rep = rep.filter(pl.col("reported_at_utc") <= now)
        passes = passes.filter(pl.col("passed_at_utc") <= now)
    cases = _case_counts(rep.with_columns(bucket("reported_at_utc")), ["race_id", "point_id", "bucket_start_utc"])
    denominators = (
        passes.with_columns(bucket("passed_at_utc"))
        .group_by("race_id", "point_id", "bucket_start_utc")
        .agg(pl.len().alias("runners"), pl.col("simulated").any().alias("_sim_runners"))
    )
    stations = pl.concat(
        [passes.select("race_id", "point_id", "kind", "km").unique(), rep.select("race_id", "point_id").unique()],
        how="diagonal_relaxed",
    ).group_by("race_id", "point_id").agg(pl.col("kind").drop_nulls().first(), pl.col("km").drop_nulls().first())
    span = pl.concat(
        [cases.select("race_id", "bucket_start_utc"), denominators.select("race_id", "bucket_start_utc")]
    ).group_by("race_id").agg(
        pl.col("bucket_start_utc").min().alias("_first"),
        (pl.col("bucket_start_utc").max() if now_utc is None else pl.lit(now_utc).cast(pl.Datetime("us", "UTC")).dt.truncate(STATION_LOAD_BUCKET)).alias("_last"),
    )
    buckets = span.select(
        "race_id", pl.datetime_ranges("_first", "_last", STATION_LOAD_BUCKET).alias("bucket_start_utc")
    ).explode("bucket_start_utc")
    rows = (
        stations.join(buckets, on="race_id", how="inner")
        .join(denominators, on=["race_id", "point_id", "bucket_start_utc"], how="left")
        .join(cases, on=["race_id", "point_id", "bucket_start_utc"], how="left")
        .with_columns((pl.col("bucket_start_utc") + pl.duration(minutes=15)).alias("bucket_end_utc"))
        .with_columns(
            (pl.lit(True) if now_utc is None else pl.col("bucket_end_utc") <= pl.lit(now_utc).cast(pl.Datetime("us", "UTC"))).alias(
                "bucket_complete"
            )
        )
    )
    keys = ["race_id", "point_id", "kind", "km", "bucket_start_utc", "bucket_end_utc", "bucket_complete"]
    rows = rows.with_columns(
        pl.col("cases").fill_null(0).cast(pl.Int64).alias("observed"),
        pl.col("runners").fill_null(0).cast(pl.Int64).alias("runners_passed"),
        (pl.col("_sim_reports").fill_null(False) | pl.col("_sim_runners").fill_null(False)).alias("simulated"),
    ).with_columns(
        pl.col("observed").sum().over("race_id", "point_id").alias("_station_cases"),
        pl.col("runners_passed").sum().over("race_id", "point_id").alias("_station_runners"),
    ).with_columns(
        pl.when(pl.col("_station_runners") > 0)
        .then(pl.col("runners_passed") * pl.col("_station_cases") / pl.col("_station_runners"))
        .alias("expected")
    ).collect()
    p_exceed = poisson_exceedance(rows["observed"].to_numpy(), rows["expected"].fill_null(np.nan).to_numpy())
    return rows.with_columns(
        pl.Series("p_exceed", p_exceed).fill_nan(None),
        pl.lit(STATION_LOAD_EXPECTED_BASIS).alias("expected_basis"),
    ).lazy().select(*keys, "observed", "runners_passed", "expected", "p_exceed", "expected_basis", "simulated").sort(
        "race_id", "km", "point_id", "bucket_start_utc", nulls_last=True
    )
