"""The pure validation of one landed batch: records in, accepted rows and failures out.

`validate_batch(kind, records, context)` types the records (validation.coerce), applies the
km/course rule (validation.course_rules) and the kind's pandera schema (validation.schemas),
and derives what the staging tables need (age band and wave from the race's bib ranges).
Nothing here opens a database or a file: the context (known races and course points) is
loaded once by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from racecramp.landing.kinds import KINDS, KM_MATCHES_POINT, KM_WITHIN_COURSE, POINT_ON_COURSE, RACE_IS_KNOWN
from racecramp.marts.counting import RETRY_CONFLICT, RETRY_NEW, retry_verdicts
from racecramp.sources.roster import START_DELAY, assign_waves, passings_with_clock, result_passings, wave_table
from racecramp.validation.coerce import FAILURE_SCHEMA, coerce_records
from racecramp.validation.context import ValidationContext
from racecramp.validation.course_rules import course_failures, fill_point_km, race_failures
from racecramp.validation.schemas import COURSE_KM, show, validate_frame
from racecramp.validation.windows import window_failures

RETRY_CHECK = "report_id_retry"  # the retry rule (marts.counting): same id, other content
# Failures may carry where the record came from ("row 14 of results.csv"); null = its place in the batch.
WHERE = "_where"
# columns shown without quotes in a message (numbers, times)
NUMERIC_RULE_COLUMNS = ("km", *(k.event_time for k in KINDS.values() if k.event_time))


@dataclass
class BatchValidation:
    accepted: dict[str, pl.DataFrame]  # kind -> rows to merge into its staging table
    failures: pl.DataFrame  # _row, column, check, value, message, _where
    rows: int
    notes: list[str] = field(default_factory=list)


def empty_failures() -> pl.DataFrame:
    return pl.DataFrame(schema={**FAILURE_SCHEMA, WHERE: pl.String})


def _with_where(failures: pl.DataFrame) -> pl.DataFrame:
    if WHERE not in failures.columns:
        failures = failures.with_columns(pl.lit(None, pl.String).alias(WHERE))
    return failures.select(*FAILURE_SCHEMA, WHERE)


def rule_messages(rule_failures: pl.DataFrame) -> pl.DataFrame:
    """course_rules failures (reason) as FAILURE_SCHEMA rows ("km=43.5: beyond the finish ...")."""
    if rule_failures.height == 0:
        return pl.DataFrame(schema=FAILURE_SCHEMA)
    messages = [
        f"{column}={value if column in NUMERIC_RULE_COLUMNS else show(value)}: {reason}"
        for column, value, reason in rule_failures.select("column", "value", "reason").iter_rows()
    ]
    return rule_failures.select("_row", "column", "check", "value").with_columns(pl.Series("message", messages, pl.String))


def _combine(type_failures: pl.DataFrame, *others: pl.DataFrame) -> pl.DataFrame:
    """A type failure already explains a null; drop the resulting 'missing' failure of that column."""
    rest = pl.concat([o.select(*FAILURE_SCHEMA) for o in others]) if others else pl.DataFrame(schema=FAILURE_SCHEMA)
    if type_failures.height:
        rest = rest.join(type_failures.select("_row", "column"), on=["_row", "column"], how="anti")
    return pl.concat([type_failures, rest]).sort("_row", maintain_order=True)


def _course_rules(frame: pl.DataFrame, kind: str, context: ValidationContext,
                  received_utc: datetime | pl.Series) -> pl.DataFrame:
    """The km/course rule and the time window, as failures with messages."""
    rules = set(KINDS[kind].rules)
    parts = [window_failures(frame, kind, context.windows, received_utc, context.rules)]
    if RACE_IS_KNOWN in rules:
        parts.append(race_failures(frame, context))
    if rules & {KM_WITHIN_COURSE, POINT_ON_COURSE, KM_MATCHES_POINT}:
        columns = ["_row", "race_id", "km"] + (["point_id"] if POINT_ON_COURSE in rules else [])
        found = course_failures(frame.select(columns), context)
        parts.append(found.filter(pl.col("check").is_in(list(rules))))
    return rule_messages(pl.concat(parts)) if parts else pl.DataFrame(schema=FAILURE_SCHEMA)


def validate_records(kind: str, records: Any, context: ValidationContext,
                     received_utc: datetime | pl.Series) -> BatchValidation:
    """A plain kind: typed, checked against the course and the kind's schema."""
    frame, type_failures = coerce_records(records, kind)
    if kind == "reports":  # a report without km takes its station's km (marts.counting)
        frame = fill_point_km(frame.with_columns(pl.col("report_id").str.to_lowercase()), context)
    if "race_id" in frame.columns:
        distances = context.races.select("race_id", pl.col("distance_km").alias(COURSE_KM))
        frame = frame.join(distances, on="race_id", how="left", maintain_order="left")
    else:
        frame = frame.with_columns(pl.lit(None, pl.Float64).alias(COURSE_KM))
    validated = validate_frame(frame, kind)
    failures = _combine(type_failures, _course_rules(frame, kind, context, received_utc), validated.failures)
    good = frame.filter(~pl.col("_row").is_in(failures["_row"].unique().implode()))
    if kind == "participants":
        good = assign_waves(good, wave_table(context.races))
    if kind == "reports":
        good = good.with_columns(pl.col("entered_by").fill_null(pl.col("point_id")))
    return BatchValidation({kind: good}, _with_where(failures), frame.height)


def apply_retry_rule(checked: BatchValidation, stored: pl.DataFrame) -> BatchValidation:
    """The retry rule (marts.counting.retry_verdicts) on a validated reports batch: repeats of a stored
    or earlier report are dropped (a no-op), a report_id with other contents is a failure with the reason."""
    good = checked.accepted.get("reports")
    if good is None or good.height == 0:
        return checked
    judged = retry_verdicts(good, stored)
    conflicts = judged.filter(pl.col("retry") == RETRY_CONFLICT)
    failures = conflicts.select(
        pl.col("_row").cast(pl.Int64),
        pl.lit("report_id").alias("column"),
        pl.lit(RETRY_CHECK).alias("check"),
        pl.col("report_id").cast(pl.String).alias("value"),
        pl.format("report_id={}: already received with different contents ({}); a retry must resend the same "
                  "report, a correction is a new report_id naming this one in supersedes_report_id",
                  "report_id", "conflict_with").alias("message"),
    )
    kept = judged.filter(pl.col("retry") == RETRY_NEW).drop("retry", "conflict_with")
    all_failures = pl.concat([checked.failures, _with_where(failures)]).sort("_row", maintain_order=True)
    return BatchValidation({**checked.accepted, "reports": kept}, all_failures, checked.rows, checked.notes)


def validate_races(records: Any) -> BatchValidation:
    """Races are small reference rows: checked in code (time zone, date, distance)."""
    frame = records if isinstance(records, pl.DataFrame) else pl.DataFrame(records)
    failures = []
    for i, row in enumerate(frame.iter_rows(named=True)):
        problems = []
        try:
            ZoneInfo(str(row.get("timezone")))
        except Exception:  # ZoneInfo raises several types for a bad name; each means "not a zone"
            problems.append(("timezone", "timezone", row.get("timezone"), "an IANA time zone such as America/New_York"))
        if not isinstance(row.get("date"), date):
            problems.append(("date", "type", row.get("date"), "a date YYYY-MM-DD"))
        distance = row.get("distance_km")
        column = KINDS["races"].column("distance_km")
        if not isinstance(distance, (int, float)) or not column.ge <= distance <= column.le:
            problems.append(("distance_km", "in_range", distance, f"a distance between {column.ge:g} and {column.le:g} km"))
        for name, check, value, expected in problems:
            failures.append({"_row": i, "column": name, "check": check, "value": str(value),
                             "message": f"{name}={value!r}: expected {expected}"})
    fails = pl.DataFrame(failures, schema=FAILURE_SCHEMA)
    bad = fails["_row"].unique().to_list()
    good = frame.with_row_index("_row").filter(~pl.col("_row").is_in(bad)).drop("_row")
    return BatchValidation({"races": good}, _with_where(fails), frame.height)


def validate_results(rows: pl.DataFrame, context: ValidationContext) -> BatchValidation:
    """A results file: one row per runner with nested splits -> participants + passings."""
    from racecramp.sources.results import result_row_problems

    rows = rows.with_row_index("_row").with_columns(pl.col("_row").cast(pl.Int64))
    where = pl.format("row {} of {}", "source_row", "source_file")
    lookup = rows.select("_row", "source_row", "source_file")
    failures: list[pl.DataFrame] = []
    unknown = race_failures(rows.select("_row", "race_id"), context)
    if unknown.height:
        failures.append(rule_messages(unknown).join(lookup, on="_row").with_columns(where.alias(WHERE)))
    races = context.races.filter(pl.col("race_id").is_in(rows["race_id"].unique().implode()))
    distance = races["distance_km"].max() if races.height else KINDS["races"].column("distance_km").le
    problems = result_row_problems(rows.drop("_row"), course_km=float(distance))
    if problems.height:
        failures.append(
            problems.join(lookup, on="source_row", how="left").select(
                "_row", "column", "check", pl.col("value").cast(pl.String),
                # result_row_problems already starts its message with "row N of FILE: "
                pl.col("message").str.replace(r"^row \d+ of [^:]+: ", "").alias("message"),
                where.alias(WHERE),
            )
        )
    splits = rows.select("_row", "race_id", "splits").explode("splits").drop_nulls("splits").unnest("splits")
    off_course = splits.join(context.course_points.select("race_id", "point_id"), on=["race_id", "point_id"], how="anti")
    if off_course.height:
        label = pl.col("column") if "column" in off_course.columns else pl.col("point_id")
        failures.append(
            off_course.join(lookup, on="_row", how="left").select(
                "_row", label.alias("column"), pl.lit(POINT_ON_COURSE).alias("check"), pl.col("point_id").alias("value"),
                pl.format("split at point_id '{}' is not on the course of {}: expected one of the race's course points",
                          "point_id", "race_id").alias("message"),
                where.alias(WHERE),
            )
        )
    participant_columns = list(KINDS["participants"].schema)
    participants = rows.select(
        "_row", "race_id", "bib", "sex", "age", "wave", "declared_finish_s",
        pl.lit(False).alias("declared_is_synthetic"), "finished", "official_time_s", pl.lit(False).alias("simulated"),
    )
    coerced, type_failures = coerce_records(participants.select(participant_columns), "participants")
    coerced = coerced.with_columns(participants["_row"].alias("_row"))
    distances = context.races.select("race_id", pl.col("distance_km").alias(COURSE_KM))
    validated = validate_frame(coerced.join(distances, on="race_id", how="left", maintain_order="left"), "participants")
    people = _combine(type_failures, validated.failures)
    if people.height:
        failures.append(people.join(lookup, on="_row", how="left").select(*FAILURE_SCHEMA, where.alias(WHERE)))
    fail_frame = (
        pl.concat([_with_where(f) for f in failures], how="vertical_relaxed").sort("_row", maintain_order=True)
        if failures else empty_failures()
    )  # fmt: skip
    bad = fail_frame["_row"].unique().implode()
    good_rows = rows.filter(~pl.col("_row").is_in(bad))
    good_participants = assign_waves(
        validated.good.filter(~pl.col("_row").is_in(bad)).select(*participant_columns, "_row"), wave_table(context.races)
    )
    passings = result_passings(good_rows)
    passings = passings_with_clock(passings, good_participants) if passings.height else passings.drop(START_DELAY, strict=False)
    return BatchValidation({"participants": good_participants, "passings": passings}, fail_frame, rows.height)


def validate_batch(kind: str, records: Any, context: ValidationContext, received_utc: datetime | pl.Series) -> BatchValidation:
    """Validate one landed batch of `kind` against the context; received_utc is when it landed
    (an event may not be later than that, plus the allowed clock skew), or one landing time per
    record when several batches of a plain kind are validated together (warehouse.ingest)."""
    if kind == "races":
        return validate_races(records)
    if kind == "results":
        return validate_results(records, context)
    return validate_records(kind, records, context, received_utc)
