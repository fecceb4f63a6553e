"""The one ingest function: landing batches -> validation -> quarantine or merge.

Each pending batch is merged in its own transaction together with its landing_log row,
so a crash (even kill -9) leaves every batch either fully merged or not at all, and the
next run picks up exactly the batches that are not logged. Merges are by natural key, so
a record landed twice (a client retry) is stored once.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from racecramp import landing
from racecramp.domain import POINT_KM_TOLERANCE
from racecramp.validation.schemas import COLUMNS, NATURAL_KEYS, coerce_records, validate_frame
from racecramp.sources.roster import assign_waves, passings_with_clock, wave_table
from racecramp.warehouse.writer import STAGING_TABLES, append, query, upsert

log = logging.getLogger(__name__)

# Reference data first, so a roster and its passings landed in one run find their race.
KIND_ORDER = ("races", "course_points", "participants", "results", "passings", "weather", "reports", "survey", "alert_actions",
              "race_closures")

# Plain kinds whose staging table is not (yet) in warehouse.STAGING_TABLES.

QUARANTINE_SCHEMA = {
    "landed_at_utc": pl.Datetime("us", "UTC"),
    "source": pl.String,
    "record": pl.String,
    "column": pl.String,
    "check": pl.String,
    "message": pl.String,
    "batch_id": pl.String,
    "row_in_batch": pl.Int32,
}



@dataclass
class BatchResult:
    batch_id: str
    kind: str
    source: str
    rows: int
    accepted: int
    quarantined: int
    top_reasons: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class IngestSummary:
    batches: list[BatchResult] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(b.accepted for b in self.batches)

    @property
    def quarantined(self) -> int:
        return sum(b.quarantined for b in self.batches)

    @property
    def changed(self) -> bool:
        return bool(self.batches)

    def top_reasons(self, n: int = 5) -> list[tuple[str, int]]:
        counts: dict[str, int] = {}
        for b in self.batches:
            for reason, count in b.top_reasons:
                counts[reason] = counts.get(reason, 0) + count
        return sorted(counts.items(), key=lambda kv: -kv[1])[:n]


def pending_batches(con: duckdb.DuckDBPyConnection, landing_dir: Path) -> list[landing.Batch]:
    """Landed batches not yet in landing_log, reference kinds first, then landing order."""
    done = {row[0] for row in con.sql("SELECT batch_id FROM landing_log").fetchall()}
    batches = [b for b in landing.list_batches(landing_dir) if b.batch_id not in done]
    return sorted(batches, key=lambda b: (KIND_ORDER.index(b.kind), b.landed_at_utc, b.path.name))


def ingest_pending(con: duckdb.DuckDBPyConnection, landing_dir: Path, progress: Any = None) -> IngestSummary:
    """Merge every pending landing batch; returns what was accepted and quarantined."""
    summary = IngestSummary()
    for batch in pending_batches(con, landing_dir):
        con.execute("BEGIN TRANSACTION")
        try:
            result = ingest_batch(con, batch)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            log.exception("ingest of landing batch %s (%s) failed; it stays pending", batch.path, batch.kind)
            raise
        summary.batches.append(result)
        if progress is not None:
            progress(result)
    return summary


def ingest_batch(con: duckdb.DuckDBPyConnection, batch: landing.Batch) -> BatchResult:
    """Validate and merge one batch inside the caller's transaction."""
    records, source, landed_at = landing.read_batch(batch)
    label = f"{batch.kind}:{source}" if source else batch.kind
    raw = _raw_frame(batch, records, landed_at, source)
    append(con, "raw_records", raw)
    if batch.kind == "races":
        good, failures, rows = _races(con, records)
    elif batch.kind == "results":
        good, failures, rows = _results(con, records)
    else:
        good, failures, rows = _records(con, batch.kind, records)
    quarantined = _quarantine_rows(failures, raw, label, landed_at, batch)
    append(con, "quarantine", quarantined)
    accepted = 0
    for kind, frame in good.items():
        table = STAGING_TABLES[kind]
        keys = ("race_id",) if kind == "races" else NATURAL_KEYS[kind]
        accepted_frame = frame.select([c for c in frame.columns if not c.startswith("_")])
        upsert(con, table, accepted_frame, keys)
        if kind == batch.kind or (batch.kind == "results" and kind == "participants"):
            accepted += accepted_frame.height
    n_bad = quarantined.height
    con.execute(
        "INSERT INTO landing_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [batch.batch_id, batch.kind, str(batch.path), source, landed_at, datetime.now(UTC), rows, accepted, n_bad],
    )
    reasons = (
        quarantined.group_by("check").len().sort("len", descending=True).rows() if quarantined.height else []
    )
    return BatchResult(batch.batch_id, batch.kind, source, rows, accepted, n_bad, [(str(r), int(n)) for r, n in reasons])


def _raw_frame(batch: landing.Batch, records: Any, landed_at: datetime, source: str) -> pl.DataFrame:
    if isinstance(records, pl.DataFrame):
        record_json = records.select(pl.struct(pl.all()).struct.json_encode())[:, 0]
        n = records.height
    else:
        record_json = pl.Series([json.dumps(r, default=str, sort_keys=True) for r in records], dtype=pl.String)
        n = len(records)
    return pl.DataFrame(
        {
            "kind": [batch.kind] * n,
            "batch_id": [batch.batch_id] * n,
            "row_in_batch": pl.Series(range(n), dtype=pl.Int32),
            "landed_at_utc": pl.Series([landed_at] * n, dtype=pl.Datetime("us", "UTC")),
            "source": [source] * n,
            "record": record_json,
        }
    )


def _quarantine_rows(
    failures: pl.DataFrame, raw: pl.DataFrame, label: str, landed_at: datetime, batch: landing.Batch
) -> pl.DataFrame:
    if failures.height == 0:
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    # one quarantine row per rejected record: the first failed check, every reason in the message
    if "_where" not in failures.columns:
        failures = failures.with_columns(pl.lit(None, pl.String).alias("_where"))
    records = raw.get_column("record")
    rows = []
    for (row,), group in failures.group_by("_row", maintain_order=True):
        row = int(row)
        first = group.row(0, named=True)
        place = first["_where"] or _place(records[row], row, batch, label)
        reasons = "; ".join(dict.fromkeys(group.get_column("message").to_list()))
        rows.append(
            {
                "landed_at_utc": landed_at,
                "source": label,
                "record": records[row],
                "column": first["column"],
                "check": first["check"],
                "message": f"{place}: {reasons}",
                "batch_id": batch.batch_id,
                "row_in_batch": row,
            }
        )
    return pl.DataFrame(rows, schema=QUARANTINE_SCHEMA)


def _place(record_json: str, row: int, batch: landing.Batch, label: str) -> str:
    """'row 14 of log.csv' when the record came from a file row, else its place in the batch."""
    record = json.loads(record_json)
    if isinstance(record, dict) and record.get("_source_row") is not None:
        return f"row {record['_source_row']} of {label.split(':', 1)[-1]}"
    return f"record {row + 1} of batch {batch.name}"


# ---- context ---------------------------------------------------------------------------


def _races_frame(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return query(con, "SELECT race_id, distance_km, start_waves FROM stg_races")


def _with_context(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, kind: str) -> pl.DataFrame:
    """Join what validation needs to know: is the race known, its length, the point's km."""
    races = _races_frame(con).select("race_id", pl.col("distance_km").alias("_course_km"), pl.lit(True).alias("_race_known"))
    if "race_id" in frame.columns:
        frame = frame.join(races, on="race_id", how="left")
    else:
        frame = frame.with_columns(_course_km=pl.lit(None, pl.Float64), _race_known=pl.lit(True))
    if kind in ("passings", "reports"):
        points = query(con, "SELECT race_id, point_id, km AS _point_km FROM stg_course_points")
        frame = frame.join(points, on=["race_id", "point_id"], how="left")
    return frame.with_columns(pl.col("_race_known").fill_null(False)).sort("_row")


def _combine(type_failures: pl.DataFrame, validated_failures: pl.DataFrame) -> pl.DataFrame:
    """A type failure already explains a null; drop the resulting 'missing' failure."""
    if type_failures.height == 0:
        return validated_failures
    typed = type_failures.select("_row", "column")
    rest = validated_failures.join(typed, on=["_row", "column"], how="anti")
    return pl.concat([type_failures, rest]).sort("_row", maintain_order=True)


def _records(con: duckdb.DuckDBPyConnection, kind: str, records: Any) -> tuple[dict[str, pl.DataFrame], pl.DataFrame, int]:
    frame, type_failures = coerce_records(records, kind)
    if kind == "reports":
        frame = frame.with_columns(pl.col("report_id").str.to_lowercase())
    frame = _with_context(con, frame, kind)
    extra_failures = []
    if kind in ("passings", "reports"):
        mismatch = frame.filter(
            pl.col("_point_km").is_not_null() & pl.col("km").is_not_null()
            & ((pl.col("km") - pl.col("_point_km")).abs() > POINT_KM_TOLERANCE)
        )
        if mismatch.height:
            extra_failures.append(
                mismatch.select(
                    "_row",
                    pl.lit("km").alias("column"),
                    pl.lit("km_matches_point").alias("check"),
                    pl.col("km").cast(pl.String).alias("value"),
                    pl.format("km={} does not match {} at km {} (expected within {} km)", "km", "point_id", "_point_km", pl.lit(POINT_KM_TOLERANCE)).alias("message"),
                )
            )
    validated = validate_frame(frame, kind)
    failures = _combine(type_failures, validated.failures)
    if extra_failures:
        failures = pl.concat([failures, *extra_failures])
    bad = failures.get_column("_row").unique()
    good = frame.filter(~pl.col("_row").is_in(bad.implode()))
    if kind == "participants":
        good = _participants_with_waves(con, good)
    if kind == "passings":
        good = _passings_with_clock(con, good)
    if kind == "reports":
        good = good.with_columns(pl.col("entered_by").fill_null(pl.col("point_id")))
    return {kind: good}, failures, frame.height


def _participants_with_waves(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> pl.DataFrame:
    """Derive age_band, and wave and wave_start_utc from the race's bib ranges when not given."""
    return assign_waves(frame, wave_table(query(con, "SELECT race_id, start_waves FROM stg_races")))


def _passings_with_clock(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> pl.DataFrame:
    """Fill passed_at_utc = wave start + net time where the feed gave net times only."""
    if frame.height == 0 or frame.get_column("passed_at_utc").null_count() == 0:
        return frame
    starts = query(con, "SELECT race_id, bib, wave_start_utc FROM stg_participants")
    starts = starts.with_columns(pl.col("wave_start_utc").dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
    return passings_with_clock(frame, starts)


# ---- races and results ---------------------------------------------------------------


def _races(con: duckdb.DuckDBPyConnection, frame: Any) -> tuple[dict[str, pl.DataFrame], pl.DataFrame, int]:
    """Races are small reference rows: checked in code (timezone, date, waves)."""
    if not isinstance(frame, pl.DataFrame):
        frame = pl.DataFrame(frame)
    failures = []
    for i, row in enumerate(frame.iter_rows(named=True)):
        problems = []
        try:
            ZoneInfo(str(row.get("timezone")))
        except Exception:
            problems.append(("timezone", "timezone", row.get("timezone"), "an IANA time zone such as America/New_York"))
        if not isinstance(row.get("date"), date):
            problems.append(("date", "type", row.get("date"), "a date YYYY-MM-DD"))
        distance = row.get("distance_km")
        if not isinstance(distance, (int, float)) or not 1 <= distance <= 250:
            problems.append(("distance_km", "in_range", distance, "a distance between 1 and 250 km"))
        for column, check, value, expected in problems:
            failures.append({"_row": i, "column": column, "check": check, "value": str(value), "message": f"{column}={value!r}: expected {expected}"})
    fails = pl.DataFrame(failures, schema={"_row": pl.Int64, "column": pl.String, "check": pl.String, "value": pl.String, "message": pl.String})
    bad = set(fails.get_column("_row").to_list())
    good = frame.with_row_index("_row").filter(~pl.col("_row").is_in(list(bad))).drop("_row")
    return {"races": good}, fails, frame.height


def _results(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame) -> tuple[dict[str, pl.DataFrame], pl.DataFrame, int]:
    """A results file: one row per runner with nested splits -> participants + passings."""
    from racecramp.sources.results import result_row_problems

    rows = rows.with_row_index("_row").with_columns(pl.col("_row").cast(pl.Int64))
    races = _races_frame(con)
    course_km = races.filter(pl.col("race_id").is_in(rows.get_column("race_id").unique().implode()))
    where = pl.format("row {} of {}", "source_row", "source_file")
    failures: list[pl.DataFrame] = []
    known = set(course_km.get_column("race_id").to_list())
    unknown = rows.filter(~pl.col("race_id").is_in(list(known)))
    if unknown.height:
        failures.append(
            unknown.select(
                "_row", pl.lit("race_id").alias("column"), pl.lit("race_is_known").alias("check"),
                pl.col("race_id").alias("value"),
                pl.format("race_id='{}': expected a race_id that has been imported (racecramp import race)", "race_id").alias("message"),
                where.alias("_where"),
            )
        )
    distance = course_km.get_column("distance_km").max() if course_km.height else 42.195
    problems = result_row_problems(rows.drop("_row"), course_km=float(distance))
    if problems.height:
        lookup = rows.select("_row", "source_row", "source_file")
        problems = problems.join(lookup, on="source_row", how="left")
        failures.append(
            problems.select(
                "_row", "column", "check", pl.col("value").cast(pl.String),
                # result_row_problems already starts its message with "row N of FILE: "
                pl.col("message").str.replace(r"^row \d+ of [^:]+: ", "").alias("message"),
                where.alias("_where"),
            )
        )
    points = query(con, "SELECT race_id, point_id FROM stg_course_points")
    splits = rows.select("_row", "race_id", "splits").explode("splits").drop_nulls("splits").unnest("splits")
    off_course = splits.join(points, on=["race_id", "point_id"], how="anti")
    if off_course.height:
        label = pl.col("column") if "column" in off_course.columns else pl.col("point_id")
        failures.append(
            off_course.join(rows.select("_row", "source_row", "source_file"), on="_row", how="left").select(
                "_row", label.alias("column"), pl.lit("point_on_course").alias("check"), pl.col("point_id").alias("value"),
                pl.format("split at point_id '{}' is not on the course of {}: expected one of the race's course points", "point_id", "race_id").alias("message"),
                where.alias("_where"),
            )
        )
    participants = rows.select(
        "_row", "source_row", "source_file", "race_id", "bib", "sex", "age", "wave", "declared_finish_s",
        pl.lit(False).alias("declared_is_synthetic"), "finished", "official_time_s", pl.lit(False).alias("simulated"),
    )
    coerced, type_failures = coerce_records(participants.select(list(COLUMNS["participants"])), "participants")
    coerced = coerced.with_columns(participants.get_column("_row").alias("_row"))
    validated = validate_frame(_with_context(con, coerced, "participants"), "participants")
    pf = _combine(type_failures, validated.failures)
    if pf.height:
        pf = pf.join(rows.select("_row", "source_row", "source_file"), on="_row", how="left")
        failures.append(pf.select("_row", "column", "check", "value", "message", where.alias("_where")))
    fail_frame = (
        pl.concat(failures, how="vertical_relaxed").sort("_row", maintain_order=True)
        if failures
        else pl.DataFrame(schema={"_row": pl.Int64, "column": pl.String, "check": pl.String, "value": pl.String, "message": pl.String, "_where": pl.String})
    )
    bad = fail_frame.get_column("_row").unique().implode()
    good_rows = rows.filter(~pl.col("_row").is_in(bad))
    good_participants = _participants_with_waves(
        con, validated.good.filter(~pl.col("_row").is_in(bad)).select(*COLUMNS["participants"], "_row")
    )
    passings = (
        good_rows.select("race_id", "bib", "splits")
        .explode("splits")
        .drop_nulls("splits")
        .unnest("splits")
        .with_columns(pl.lit(None, pl.Datetime("us", "UTC")).alias("passed_at_utc"), pl.lit(False).alias("simulated"))
        .select(list(COLUMNS["passings"]))
    )
    if passings.height:
        passings = passings_with_clock(passings, good_participants)
    # a row-level problem reports at the file row; the row index maps back to raw records
    return {"participants": good_participants, "passings": passings}, fail_frame, rows.height
