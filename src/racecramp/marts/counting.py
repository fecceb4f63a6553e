"""The one counting rule every rate, count and alert follows (marts.registry points here).

- What counts: presentations at aid stations and the finish tent (`rate_sources`). A runner's
  own post-race survey answer is a self-report: it counts in the survey analyses only
  (survey_risk_factors, survey_rate_ratios), never in a rate, a KPI or an alert.
- Presentations and cases: a presentation is one report; a case is a runner once per row of a
  mart (distinct bibs), plus each report without a bib (it cannot be linked to a runner).
- Retries: a report is identified by its report_id. The same id with the same content is the
  same report, stored once; the same id with other content is a conflict everywhere (409 at the
  intake, quarantined with the reason by a bulk import), never a silent overwrite.
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


@dataclass(frozen=True)
class CountingRule:
    rate_sources: tuple[str, ...] = (ReportSource.AID_STATION.value, ReportSource.FINISH_TENT.value)
    survey_sources: tuple[str, ...] = (ReportSource.SURVEY.value,)

    def describe(self) -> str:
        return (f"rates, counts and alerts count reports from {', '.join(self.rate_sources)}; "
                f"{', '.join(self.survey_sources)} reports count only in the survey analyses; a case is a runner once "
                "per row plus each report without a bib; a report_id resent with the same content is stored once, with "
                "other content it is a conflict; a correction supersedes the report it names")


COUNTING = CountingRule()


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
