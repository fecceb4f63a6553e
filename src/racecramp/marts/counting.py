"""The one counting rule every rate, count and alert follows (marts.registry points here).

- What counts: presentations at aid stations and the finish tent (`rate_sources`). A runner's
  own post-race survey answer is a self-report: it counts in the survey analyses only
  (survey_risk_factors, survey_rate_ratios), never in a rate, a KPI or an alert.
- Presentations and cases: a presentation is one report; a case is a runner once per row of a
  mart (distinct bibs), plus each report without a bib (it cannot be linked to a runner).
- Retries: a report is identified by its report_id. The same id with the same content is the
  same report, stored once; the same id with other content is a conflict everywhere (409 at the
  intake, quarantined with the reason by a bulk import), never a silent overwrite.
- Place: a report without km takes its station's km (at the intake and in validation); a report
  with neither counts in the distance mart's `km unknown` row (and in every mart not built on place).
- Corrections: a correction is a new report (new report_id) that names the one it replaces in
  `supersedes_report_id`; the replaced report then counts no more.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from racecramp.columns import require_columns
from racecramp.domain import ReportSource

Frame = pl.DataFrame | pl.LazyFrame
REPORT_COLUMNS = ("race_id", "source", "reported_at_utc")  # the rest is used when there (a frame of cramp_reports has it all)
# What "the same content" means for a resent report_id: every field the sender chose. Not
# entered_by or received_at_utc: who carried it and when it arrived are not the report.
REPORT_CONTENT = ("race_id", "source", "simulated", "point_id", "km", "bib", "reported_at_utc", "muscle_group",
                  "severity", "treatment", "disposition", "supersedes_report_id")
RETRY_NEW, RETRY_REPEAT, RETRY_CONFLICT = "new", "repeat", "conflict"


@dataclass(frozen=True)
class CountingRule:
    rate_sources: tuple[str, ...] = (ReportSource.AID_STATION.value, ReportSource.FINISH_TENT.value)
    survey_sources: tuple[str, ...] = (ReportSource.SURVEY.value,)

    def describe(self) -> str:
        return (f"rates, counts and alerts count reports from {', '.join(self.rate_sources)}; "
                f"{', '.join(self.survey_sources)} reports count only in the survey analyses; a case is a runner once "
                "per row plus each report without a bib; a report_id resent with the same content is stored once, with "
                "other content it is a conflict; a report without km takes its station's km, with neither it is "
                "`km unknown`; a correction supersedes the report it names")


COUNTING = CountingRule()


def _content_key(frame: pl.DataFrame) -> pl.Expr:
    """One text per row holding every content field (nulls spelled out), comparable across frames."""
    parts = []
    for name in REPORT_CONTENT:
        if name not in frame.columns:
            value = pl.lit("∅")
        elif name == "reported_at_utc":
            value = pl.col(name).dt.convert_time_zone("UTC").dt.cast_time_unit("us").dt.epoch("us").cast(pl.String)
        elif name == "km":
            value = pl.col(name).cast(pl.Float64).round(6).cast(pl.String)
        elif name == "simulated":
            value = pl.col(name).fill_null(False).cast(pl.String)
        else:
            value = pl.col(name).cast(pl.String).str.to_lowercase() if name.endswith("report_id") else pl.col(name).cast(pl.String)
        parts.append(value.fill_null("∅"))
    return pl.concat_str(parts, separator="\x1f")


def retry_verdicts(incoming: pl.DataFrame, stored: pl.DataFrame) -> pl.DataFrame:
    """The retry rule applied to a batch of reports: each row with `retry` = new, repeat or conflict
    and `conflict_with` (where the other content is: `stored` or `row N of the batch`).

    A report_id already stored, or earlier in the same batch, with the same content is a repeat
    (a no-op); with other content it is a conflict (the intake's 409; a bulk import quarantines
    it with the reason). The first copy wins: a later one never overwrites it.
    `incoming` needs report_id and `_row`; `stored` needs report_id and the content columns.
    """
    keyed = incoming.with_columns(
        pl.col("report_id").cast(pl.String).str.to_lowercase().alias("_rid"), _content_key(incoming).alias("_content")
    )
    before = (stored.select(pl.col("report_id").cast(pl.String).str.to_lowercase().alias("_rid"),
                            _content_key(stored).alias("_stored_content")) if stored.height
              else pl.DataFrame(schema={"_rid": pl.String, "_stored_content": pl.String}))
    keyed = keyed.join(before.unique("_rid"), on="_rid", how="left", maintain_order="left")
    first = keyed.sort("_row").group_by("_rid", maintain_order=True).agg(
        pl.col("_row").first().alias("_first_row"), pl.col("_content").first().alias("_first_content"))
    keyed = keyed.join(first, on="_rid", how="left", maintain_order="left")
    verdict = (
        pl.when(pl.col("_stored_content").is_not_null())
        .then(pl.when(pl.col("_stored_content") == pl.col("_content")).then(pl.lit(RETRY_REPEAT)).otherwise(pl.lit(RETRY_CONFLICT)))
        .when(pl.col("_row") == pl.col("_first_row")).then(pl.lit(RETRY_NEW))
        .when(pl.col("_first_content") == pl.col("_content")).then(pl.lit(RETRY_REPEAT))
        .otherwise(pl.lit(RETRY_CONFLICT))
    )
    other = (pl.when(pl.col("_stored_content").is_not_null()).then(pl.lit("stored"))
             .when(pl.col("_row") != pl.col("_first_row")).then(pl.format("row {} of the batch", pl.col("_first_row") + 1)))
    return keyed.with_columns(verdict.alias("retry"), other.alias("conflict_with")).drop(
        "_rid", "_content", "_stored_content", "_first_row", "_first_content")


def counted_reports(reports: Frame, sources: tuple[str, ...] | None = COUNTING.rate_sources) -> pl.LazyFrame:
    """The reports that count: one per report_id, superseded ones removed, of `sources` only
    (None: every source); blank bibs become null."""
    reports = reports.lazy()
    require_columns(reports, "cramp_reports", REPORT_COLUMNS)
    names = reports.collect_schema().names()
    fixes = [pl.col("simulated").fill_null(False) if "simulated" in names else pl.lit(False).alias("simulated")]
    if "bib" in names:
        fixes.append(pl.col("bib").cast(pl.String).str.strip_chars().replace("", None))
    if "km" in names:
        fixes.append(pl.col("km").cast(pl.Float64))
    frame = reports.with_columns(fixes)
    if "report_id" in names:
        frame = frame.with_columns(pl.col("report_id").cast(pl.String)).sort(
            "report_id", "reported_at_utc", nulls_last=True).unique(subset="report_id", keep="first", maintain_order=True)
    if "supersedes_report_id" in names:
        replaced = frame.select(pl.col("supersedes_report_id").cast(pl.String).alias("report_id")).drop_nulls()
        frame = frame.join(replaced, on="report_id", how="anti")
    if sources is not None:
        frame = frame.filter(pl.col("source").is_in(list(sources)))
    return frame


# --------------------------------------------------------------------------- the denominator's name

ROSTER_STARTERS, ROSTER_FINISHERS = "starters", "finishers"


def roster_holds(participants: Frame) -> pl.LazyFrame:
    """Per race, what the roster's runners are: `finishers` when every participant finished (a results
    file without DNF rows, like the Boston files), else `starters`. Every per-runner rate is named for it."""
    frame = participants.lazy()
    require_columns(frame, "participants", ("race_id", "finished"))
    return frame.group_by("race_id").agg(
        pl.when(pl.col("finished").fill_null(False).all()).then(pl.lit(ROSTER_FINISHERS))
        .otherwise(pl.lit(ROSTER_STARTERS)).alias("roster_holds")
    )


def roster_holds_for(participants: pl.DataFrame | None, race_id: str) -> str:
    """roster_holds of one race (`starters` when the race has no roster yet: nobody has finished)."""
    if participants is None:
        return ROSTER_STARTERS
    found = roster_holds(participants.filter(pl.col("race_id") == race_id)).collect()
    return str(found["roster_holds"][0]) if found.height else ROSTER_STARTERS
