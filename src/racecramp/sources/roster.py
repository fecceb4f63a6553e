"""From a results file and a race definition to the start list and timing passings, without
a warehouse: the same derivation the ingest applies to a `results` batch (wave from the
race's bib ranges, wall clock = wave start + net time), shared by the ingest and the replay.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from racecramp.domain import age_band
from racecramp.landing.kinds import KINDS
from racecramp.sources.results import result_row_problems

UTC_DT = pl.Datetime("us", "UTC")
WAVE_COLUMNS = {
    "race_id": pl.String, "wave": pl.Int32, "start_utc": UTC_DT,
    "bib_from": pl.Int64, "bib_to": pl.Int64, "bib_prefix": pl.String,
}


def wave_table(races: pl.DataFrame) -> pl.DataFrame:
    """One row per start wave (race_id, wave, start_utc, bib_from, bib_to, bib_prefix) from
    races rows whose start_waves is the list read by sources.race.read_race."""
    if races.height == 0:
        return pl.DataFrame(schema=WAVE_COLUMNS)
    waves = races.select("race_id", "start_waves").explode("start_waves").drop_nulls("start_waves").unnest("start_waves")
    if waves.height == 0:
        return pl.DataFrame(schema=WAVE_COLUMNS)
    return waves.select(
        pl.col("race_id").cast(pl.String),
        pl.col("wave").cast(pl.Int32),
        pl.col("start_utc").dt.convert_time_zone("UTC").dt.cast_time_unit("us"),
        pl.col("bib_from").cast(pl.Int64, strict=False),
        pl.col("bib_to").cast(pl.Int64, strict=False),
        pl.col("bib_prefix").cast(pl.String),
    )


def assign_waves(participants: pl.DataFrame, waves: pl.DataFrame) -> pl.DataFrame:
    """Add age_band, fill wave from the bib ranges where not given, and add wave_start_utc.

    A bib matches a wave when its non-digit prefix equals the wave's bib_prefix (empty when
    none) and its trailing number lies in [bib_from, bib_to] (open ends allowed); the lowest
    matching wave wins. A given wave number keeps its own start time.
    """
    if participants.height == 0:
        return participants.with_columns(age_band=pl.lit(None, pl.String), wave_start_utc=pl.lit(None, UTC_DT))
    frame = participants.with_row_index("_roster_row").with_columns(
        pl.col("age").map_elements(age_band, return_dtype=pl.String).alias("age_band"),
        pl.col("bib").str.extract(r"^(\D*)", 1).fill_null("").alias("_prefix"),
        pl.col("bib").str.extract(r"(\d+)$", 1).cast(pl.Int64, strict=False).alias("_num"),
    )
    if waves.height == 0:
        return frame.with_columns(wave_start_utc=pl.lit(None, UTC_DT)).drop("_roster_row", "_prefix", "_num")
    matched = (
        frame.select("_roster_row", "race_id", "_prefix", "_num")
        .join(waves, on="race_id", how="inner")
        .filter(
            (pl.col("_prefix") == pl.col("bib_prefix").fill_null(""))
            & (pl.col("bib_from").is_null() | (pl.col("_num") >= pl.col("bib_from")))
            & (pl.col("bib_to").is_null() | (pl.col("_num") <= pl.col("bib_to")))
        )
        .sort("_roster_row", "wave")
        .unique("_roster_row", keep="first")
        .select("_roster_row", pl.col("wave").alias("_wave"), pl.col("start_utc").alias("_wave_start"))
    )
    frame = frame.join(matched, on="_roster_row", how="left")
    wave_starts = waves.select("race_id", pl.col("wave").alias("_w2"), pl.col("start_utc").alias("_given_start")).unique(["race_id", "_w2"])
    frame = frame.join(wave_starts, left_on=["race_id", "wave"], right_on=["race_id", "_w2"], how="left")
    return (
        frame.with_columns(
            pl.coalesce("wave", "_wave").alias("wave"),
            pl.when(pl.col("wave").is_not_null()).then(pl.col("_given_start")).otherwise(pl.col("_wave_start")).alias("wave_start_utc"),
        )
        .sort("_roster_row")
        .drop("_wave", "_wave_start", "_given_start", "_prefix", "_num", "_roster_row")
    )


START_DELAY = "start_delay_s"  # optional column of passings from a results file with gun and chip times


def passings_with_clock(passings: pl.DataFrame, participants: pl.DataFrame) -> pl.DataFrame:
    """Fill passed_at_utc = the runner's wave start + start-line delay (gun - chip, 0 when
    unknown) + net time where it is missing; the start_delay_s column, if any, is dropped."""
    starts = participants.select("race_id", "bib", pl.col("wave_start_utc").alias("_start"))
    delay = pl.col(START_DELAY).fill_null(0.0) if START_DELAY in passings.columns else pl.lit(0.0)
    since_gun = ((delay + pl.col("net_time_s")) * 1e6).round(0).cast(pl.Int64)
    return (
        passings.join(starts, on=["race_id", "bib"], how="left")
        .with_columns(pl.coalesce("passed_at_utc", pl.col("_start") + pl.duration(microseconds=since_gun)).alias("passed_at_utc"))
        .drop("_start", START_DELAY, strict=False)
    )


def result_passings(rows: pl.DataFrame) -> pl.DataFrame:
    """The passings of result rows (their splits), with the start-line delay when the file gave one."""
    delay = [START_DELAY] if START_DELAY in rows.columns else []
    return (
        rows.select("race_id", "bib", *delay, "splits")
        .explode("splits")
        .drop_nulls("splits")
        .unnest("splits")
        .with_columns(pl.lit(None, UTC_DT).alias("passed_at_utc"), pl.lit(False).alias("simulated"))
        .select(*[pl.col(name).cast(dtype) for name, dtype in KINDS["passings"].schema.items()], *delay)
    )


@dataclass(frozen=True)
class Roster:
    """participants (their kind's columns + age_band, wave_start_utc), passings and the
    result rows left out with the reason (source_row, column, message)."""

    participants: pl.DataFrame
    passings: pl.DataFrame
    skipped: pl.DataFrame


def roster_from_results(rows: pl.DataFrame, races: pl.DataFrame, course_points: pl.DataFrame) -> Roster:
    """Start list and passings of one results file (sources.results.read_results rows).

    Rows with a problem the ingest would quarantine (result_row_problems), an unknown race,
    or a split at a point off the course are left out and listed in `skipped`.
    """
    known = races.select("race_id", "distance_km")
    course_km = float(known["distance_km"].max()) if known.height else 42.195
    problems = result_row_problems(rows, course_km=course_km).select("source_row", "column", "message")
    unknown = rows.join(known, on="race_id", how="anti").select(
        "source_row", pl.lit("race_id").alias("column"), pl.format("race_id='{}' is not a known race", "race_id").alias("message")
    )
    splits = rows.select("source_row", "race_id", "splits").explode("splits").drop_nulls("splits").unnest("splits")
    off_course = splits.join(course_points.select("race_id", "point_id"), on=["race_id", "point_id"], how="anti").select(
        "source_row", pl.col("point_id").alias("column"), pl.format("split at point_id '{}' is not on the course", "point_id").alias("message")
    )
    skipped = pl.concat([problems, unknown, off_course], how="vertical_relaxed").sort("source_row", maintain_order=True)
    good = rows.join(skipped.select("source_row").unique(), on="source_row", how="anti")
    participants = good.with_columns(
        pl.lit(False).alias("declared_is_synthetic"), pl.lit(False).alias("simulated")
    ).select([pl.col(name).cast(dtype) for name, dtype in KINDS["participants"].schema.items()])
    participants = assign_waves(participants, wave_table(races))
    return Roster(participants=participants, passings=passings_with_clock(result_passings(good), participants), skipped=skipped)
