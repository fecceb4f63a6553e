"""Cramp presentations in the categories of the 2019 consensus on medical encounters at
mass-participation endurance events (Schwellnus, Kipps, Roberts et al., BJSM 2019;53:1048-55,
doi 10.1136/bjsports-2018-100092; ../shared/notes/domain.md §3.1), so an edition can be
pooled with other events' data.

The consensus counts *medical encounters* (a runner seen twice is two encounters) and
reports rates per 1000 race starters; so do we when the roster holds starters. A roster of
finishers only (a published results file) gives rates per 1000 finishers, and says so in
`denominator_kind`: the starters are then not known. Its field tables were not readable in
our copy: the categories below follow its stated dimensions (timing, severity, diagnostic
category) and SAFER practice, and are our mapping, documented in docs/report.md.
Pure polars: no I/O.
"""

from __future__ import annotations

import polars as pl

from racecramp.domain import POINT_KM_TOLERANCE, Disposition, ReportSource, Severity
from racecramp.report.build import medical_presentations, rate_per_1000

DIAGNOSIS_CATEGORY = "musculoskeletal"  # cramps are filed under MSK (Twin Cities, Chicago; domain.md §2.1)
DIAGNOSIS = "exercise-associated muscle cramping (EAMC)"
TIMING_DURING = "during race (on course)"
TIMING_AFTER = "after finishing (finish area)"
SERIOUS = "serious"
NOT_SERIOUS = "not serious"
UNKNOWN = "not recorded"

ENCOUNTER_COLUMNS = (
    "race_id", "race_name", "race_date", "distance_km", "encounter_id", "bib", "sex", "age_band", "finished",
    "encounter_time_utc", "timing", "location_point_id", "location_km", "diagnosis_category", "diagnosis",
    "body_region", "severity_recorded", "severity_consensus", "treatment", "disposition", "simulated",
)
RATE_DIMENSIONS = ("all", "timing", "severity_consensus", "diagnosis_category", "body_region", "disposition")


def _serious() -> pl.Expr:
    """Serious: recorded as severe, or transported to hospital (our mapping of 'serious or life-threatening')."""
    return (pl.col("severity") == Severity.SEVERE.value) | (pl.col("disposition") == Disposition.TRANSPORTED.value)


def consensus_encounters(reports: pl.DataFrame, participants: pl.DataFrame, races: pl.DataFrame, race_id: str) -> pl.DataFrame:
    """One row per cramp encounter (aid-station or finish-tent report) with consensus categories."""
    race = races.filter(pl.col("race_id") == race_id)
    if race.height == 0:
        raise ValueError(f"consensus export: race_id={race_id!r} is not in the races table")
    race_row = race.row(0, named=True)
    distance_km = float(race_row["distance_km"])
    runners = participants.filter(pl.col("race_id") == race_id).select("bib", "sex", "age_band", "finished")
    shown = medical_presentations(reports, race_id)
    at_finish = (pl.col("source") == ReportSource.FINISH_TENT.value) | (pl.col("km") >= distance_km - POINT_KM_TOLERANCE)
    return (
        shown.join(runners, on="bib", how="left")
        .with_columns(
            pl.lit(race_row["name"]).alias("race_name"),
            pl.lit(race_row["date"]).alias("race_date"),
            pl.lit(distance_km).alias("distance_km"),
            pl.col("report_id").alias("encounter_id"),
            pl.col("reported_at_utc").alias("encounter_time_utc"),
            pl.when(at_finish).then(pl.lit(TIMING_AFTER)).otherwise(pl.lit(TIMING_DURING)).alias("timing"),
            pl.col("point_id").alias("location_point_id"),
            pl.col("km").alias("location_km"),
            pl.lit(DIAGNOSIS_CATEGORY).alias("diagnosis_category"),
            pl.lit(DIAGNOSIS).alias("diagnosis"),
            pl.col("muscle_group").fill_null(UNKNOWN).alias("body_region"),
            pl.col("severity").fill_null(UNKNOWN).alias("severity_recorded"),
            pl.when(_serious()).then(pl.lit(SERIOUS))
            .when(pl.col("severity").is_null() & pl.col("disposition").is_null()).then(pl.lit(UNKNOWN))
            .otherwise(pl.lit(NOT_SERIOUS)).alias("severity_consensus"),
            pl.col("treatment").fill_null(UNKNOWN),
            pl.col("disposition").fill_null(UNKNOWN),
        )
        .sort("encounter_time_utc", "encounter_id")
        .select(ENCOUNTER_COLUMNS)
    )


def consensus_rates(encounters: pl.DataFrame, denominator: int, race_id: str,
                    denominator_kind: str = "starters") -> pl.DataFrame:
    """Encounters per 1000 of the roster's runners (Wilson 95% CI) overall and per category of each
    dimension; denominator_kind says what they are (`starters`, or `finishers` for a finishers-only roster)."""
    rows = []
    simulated_any = bool(encounters["simulated"].any()) if encounters.height else False
    for dimension in RATE_DIMENSIONS:
        if dimension == "all":
            groups = [("all cramp encounters", encounters)]
        else:
            groups = [(str(key[0]), part) for key, part in encounters.group_by(dimension, maintain_order=True)]
            groups.sort(key=lambda g: g[0])
        for category, part in groups:
            rate = rate_per_1000(part.height, denominator)
            rows.append({
                "race_id": race_id, "dimension": dimension, "category": category, "encounters": part.height,
                "denominator": denominator, "denominator_kind": denominator_kind, "rate_per_1000": rate.per_1000,
                "rate_unit": f"per 1000 {denominator_kind}", "ci_low_per_1000": rate.ci_low,
                "ci_high_per_1000": rate.ci_high, "simulated": bool(part["simulated"].any()) if part.height else simulated_any,
            })
    schema = {"race_id": pl.String, "dimension": pl.String, "category": pl.String, "encounters": pl.Int64, "denominator": pl.Int64,
              "denominator_kind": pl.String, "rate_per_1000": pl.Float64, "rate_unit": pl.String, "ci_low_per_1000": pl.Float64, "ci_high_per_1000": pl.Float64,
              "simulated": pl.Boolean}
    return pl.DataFrame(rows, schema=schema)
