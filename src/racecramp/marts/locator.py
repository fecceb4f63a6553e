"""Runner locator: where each bib was last seen, where it should be now, and its medical status.

Answers the question families and tent leads ask most ("where is bib 12345?") from the
timing passings and cramp reports known at `now_utc`. Rows later than `now_utc` are ignored,
so a replay evaluated at 11:00 sees only what was known at 11:00.

Rules (documented in docs/alerts.md):
- Pace is the runner's latest segment pace: time between the last two passings over their
  km gap, the start (km 0, net 0 s) counting as the first passing.
- projected_km_now = last_km + elapsed since last passing / pace, capped at the finish;
  null for finishers.
- status:
  - `dnf`: the latest cramp report came after the latest passing and its disposition is
    dnf or transported;
  - `in_medical`: the latest report came after the latest passing and has no disposition
    yet (the runner is being treated);
  - `finished`: a passing at the finish (participants.finished is not used: in a replay it
    already holds the final result);
  - `on_course`: any passing, or a report with disposition returned_to_race/discharged;
  - `not_started`: not seen at any mat and no report.
- For dnf/in_medical, projected_km_now is the km of the report (the runner stopped there).
- next_point is the next timing mat (or the finish) beyond last_km; `overdue` is true when
  now is more than OVERDUE_AFTER_S past the projected time at it.
- Survey reports (post-race questionnaires) are not medical reports and are ignored.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from racecramp.domain import Disposition, PointKind
from racecramp.marts.counting import COUNTING, counted_reports
from racecramp.marts.hazard import require_columns

# Operational assumption (issue 5): a runner not seen this long after their projected time
# at the next mat is treated as no longer on course by the forecast, and flagged overdue.
OVERDUE_AFTER_S = 45 * 60

MAT_KINDS = (PointKind.TIMING_MAT.value, PointKind.FINISH.value)
MEDICAL_REPORT_SOURCES = COUNTING.rate_sources  # marts.counting: presentations, not survey self-reports
STOPPED_DISPOSITIONS = (Disposition.DNF.value, Disposition.TRANSPORTED.value)

RUNNER_STATUSES = ("not_started", "on_course", "finished", "dnf", "in_medical")

_UTC = pl.Datetime("us", "UTC")


def check_now_utc(now_utc: datetime) -> datetime:
    """now_utc must be timezone-aware; naive datetimes are ambiguous."""
    if not isinstance(now_utc, datetime) or now_utc.tzinfo is None:
        raise ValueError(f"now_utc={now_utc!r}: expected a timezone-aware datetime (UTC)")
    return now_utc


def collect_if_lazy(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """These transforms need whole frames (group-wise last rows, scipy); collect lazy input."""
    return frame.collect() if isinstance(frame, pl.LazyFrame) else frame


def finish_km_by_race(course_points: pl.DataFrame) -> pl.DataFrame:
    """race_id → finish_km: km of the finish point, else the largest km of the course."""
    return course_points.group_by("race_id").agg(
        finish_km=pl.col("km").filter(pl.col("kind") == PointKind.FINISH.value).max().fill_null(pl.col("km").max())
    )


def latest_passings(now_utc: datetime, passings: pl.DataFrame | pl.LazyFrame,
                    course_points: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """One row per runner seen at a mat by now_utc: last passing, latest segment pace, next mat.

    Columns: race_id, bib, last_point_id, last_km, last_net_time_s, last_passed_at_utc,
    pace_s_per_km, finish_km, finished, next_point_id, next_point_km, next_point_eta_utc,
    overdue, simulated.
    """
    check_now_utc(now_utc)
    passings = collect_if_lazy(passings)
    course_points = collect_if_lazy(course_points)
    require_columns(passings, "passings", ("race_id", "bib", "point_id", "km", "net_time_s", "passed_at_utc"))
    require_columns(course_points, "course_points", ("race_id", "point_id", "kind", "km"))
    if "simulated" not in passings.columns:
        passings = passings.with_columns(simulated=pl.lit(False))
    key = ["race_id", "bib"]
    seen = (
        passings.filter(pl.col("passed_at_utc") <= now_utc)
        .sort("race_id", "bib", "km", "passed_at_utc")
        .with_columns(
            prev_km=pl.col("km").shift(1, fill_value=0.0).over(key),
            prev_net_time_s=pl.col("net_time_s").shift(1, fill_value=0.0).over(key),
        )
        .with_columns(
            segment_pace=pl.when(
                (pl.col("km") > pl.col("prev_km")) & (pl.col("net_time_s") > pl.col("prev_net_time_s"))
            ).then((pl.col("net_time_s") - pl.col("prev_net_time_s")) / (pl.col("km") - pl.col("prev_km")))
        )
    )
    last = (
        seen.group_by(key, maintain_order=True)
        .agg(
            last_point_id=pl.col("point_id").last(),
            last_km=pl.col("km").last(),
            last_net_time_s=pl.col("net_time_s").last(),
            last_passed_at_utc=pl.col("passed_at_utc").last(),
            segment_pace=pl.col("segment_pace").last(),
            simulated=pl.col("simulated").any(),
        )
        .with_columns(
            pace_s_per_km=pl.col("segment_pace").fill_null(
                pl.when(pl.col("last_km") > 0).then(pl.col("last_net_time_s") / pl.col("last_km"))
            )
        )
        .drop("segment_pace")
        .join(finish_km_by_race(course_points), on="race_id", how="left")
        .with_columns(finished=pl.col("last_km") >= pl.col("finish_km") - 1e-9)
    )
    return with_next_mat(now_utc, last, course_points)


def with_next_mat(now_utc: datetime, runners: pl.DataFrame, course_points: pl.DataFrame) -> pl.DataFrame:
    """Add next_point_id/_km (next mat beyond last_km), next_point_eta_utc and overdue."""
    mats = course_points.filter(pl.col("kind").is_in(MAT_KINDS)).select(
        "race_id", next_point_id="point_id", next_point_km="km"
    )
    nxt = (
        runners.select("race_id", "bib", "last_km")
        .join(mats, on="race_id", how="inner")
        .filter(pl.col("next_point_km") > pl.col("last_km") + 1e-9)
        .sort("race_id", "bib", "next_point_km", "next_point_id")
        .group_by("race_id", "bib", maintain_order=True)
        .first()
        .drop("last_km")
    )
    eta_s = (pl.col("next_point_km") - pl.col("last_km")) * pl.col("pace_s_per_km")
    return (
        runners.join(nxt, on=["race_id", "bib"], how="left")
        .with_columns(
            next_point_eta_utc=pl.col("last_passed_at_utc")
            + pl.duration(microseconds=(eta_s * 1e6).round().cast(pl.Int64))
        )
        .with_columns(
            overdue=(
                pl.lit(now_utc, dtype=_UTC)
                - pl.col("next_point_eta_utc")
            ).dt.total_seconds(fractional=True).gt(OVERDUE_AFTER_S).fill_null(False)
        )
    )


def projected_km_expr(now_utc: datetime) -> pl.Expr:
    """last_km + time since last passing / pace, capped at finish_km."""
    elapsed_s = (pl.lit(now_utc, dtype=_UTC) - pl.col("last_passed_at_utc")).dt.total_seconds(fractional=True)
    return pl.min_horizontal(pl.col("last_km") + elapsed_s / pl.col("pace_s_per_km"), pl.col("finish_km"))


def medical_reports_by_runner(reports: pl.DataFrame, now_utc: datetime):
    """Reports from aid stations and tents known by now_utc, with a bib, grouped by runner in
    time order (a polars GroupBy: call .agg on it)."""
    return (
        counted_reports(reports).collect().filter(pl.col("bib").is_not_null() & (pl.col("reported_at_utc") <= now_utc))
        .sort("race_id", "bib", "reported_at_utc")
        .group_by("race_id", "bib", maintain_order=True)
    )


def runner_status(now_utc: datetime, participants: pl.DataFrame | pl.LazyFrame,
                  passings: pl.DataFrame | pl.LazyFrame, reports: pl.DataFrame | pl.LazyFrame,
                  course_points: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """One row per participant: last seen, projected position now, next mat and medical status."""
    check_now_utc(now_utc)
    participants = collect_if_lazy(participants)
    reports = collect_if_lazy(reports)
    course_points = collect_if_lazy(course_points)
    require_columns(participants, "participants", ("race_id", "bib"))
    require_columns(
        reports, "cramp_reports", ("race_id", "bib", "source", "point_id", "km", "reported_at_utc", "disposition")
    )
    positions = latest_passings(now_utc, passings, course_points)
    report_summary = (
        medical_reports_by_runner(reports, now_utc)
        .agg(
            report_count=pl.len().cast(pl.Int64),
            last_report_at_utc=pl.col("reported_at_utc").last(),
            last_report_point_id=pl.col("point_id").last(),
            last_report_km=pl.col("km").last(),
            last_disposition=pl.col("disposition").last(),
        )
    )
    people = participants.select(
        "race_id", "bib", simulated_participant=pl.col("simulated") if "simulated" in participants.columns else pl.lit(False)
    ).unique(["race_id", "bib"], keep="first", maintain_order=True)
    frame = (
        people.join(positions, on=["race_id", "bib"], how="left")
        .join(report_summary, on=["race_id", "bib"], how="left")
        .with_columns(pl.col("report_count").fill_null(0))
    )
    seen = pl.col("last_passed_at_utc").is_not_null()
    report_after = pl.col("last_report_at_utc").is_not_null() & (
        ~seen | (pl.col("last_report_at_utc") > pl.col("last_passed_at_utc"))
    )
    status = (
        pl.when(report_after & pl.col("last_disposition").is_in(STOPPED_DISPOSITIONS))
        .then(pl.lit("dnf"))
        .when(report_after & pl.col("last_disposition").is_null())
        .then(pl.lit("in_medical"))
        .when(pl.col("finished").fill_null(False))
        .then(pl.lit("finished"))
        .when(seen | pl.col("last_report_at_utc").is_not_null())
        .then(pl.lit("on_course"))
        .otherwise(pl.lit("not_started"))
    )
    moving = pl.col("status") == "on_course"
    stopped = pl.col("status").is_in(["dnf", "in_medical"])
    return (
        frame.with_columns(status=status)
        .with_columns(
            projected_km_now=pl.when(stopped)
            .then(pl.col("last_report_km"))
            .when(moving & seen)
            .then(projected_km_expr(now_utc))
            .when(moving)
            .then(pl.col("last_report_km")),
            next_point_id=pl.when(moving).then(pl.col("next_point_id")),
            next_point_km=pl.when(moving).then(pl.col("next_point_km")),
            next_point_eta_utc=pl.when(moving).then(pl.col("next_point_eta_utc")),
            overdue=(moving & pl.col("overdue").fill_null(False)),
            simulated=pl.col("simulated_participant").fill_null(False) | pl.col("simulated").fill_null(False),
        )
        .select(
            "race_id", "bib", "status", "last_point_id", "last_km", "last_passed_at_utc", "pace_s_per_km",
            "projected_km_now", "next_point_id", "next_point_km", "next_point_eta_utc", "overdue",
            "report_count", "last_report_at_utc", "last_report_point_id", "last_disposition", "simulated",
        )
        .sort("race_id", "bib")
    )
