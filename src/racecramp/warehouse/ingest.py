"""The one ingest: landing batches -> validation -> quarantine or merge into the warehouse.

Each pending batch is merged in its own transaction together with its landing_log row,
so a crash (even kill -9) leaves every batch either fully merged or not at all, and the
next run picks up exactly the batches that are not logged. Merges are by natural key, so
a record landed twice (a client retry) is stored once. Validation itself is pure
(validation.validate): the context it needs is read here once per run, and again after a
batch that changes it (races, course points).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from racecramp import landing
from racecramp.columns import schema_of
from racecramp.domain import MASKED
from racecramp.landing.kinds import KINDS, QUARANTINE, merge_order
from racecramp.marts.counting import REPORT_CONTENT
from racecramp.sources.roster import passings_with_clock
from racecramp.validation.context import ValidationContext
from racecramp.validation.validate import BatchValidation, apply_retry_rule, validate_batch
from racecramp.validation.windows import WindowRules
from racecramp.warehouse.sql import append, log_batch, merged_batch_ids, query, upsert, utc_frame

log = logging.getLogger(__name__)

QUARANTINE_SCHEMA = schema_of(QUARANTINE.columns)
PERSONAL_COLUMNS = {c.name for k in KINDS.values() for c in k.columns if c.personal}
# Kinds whose merge changes the validation context of later batches in the same run.
CONTEXT_KINDS = ("races", "course_points")


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
    left: int = 0  # pending batches of the kinds asked for that this call left for the next (max_batches, max_seconds)

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




def load_context(con: duckdb.DuckDBPyConnection, rules: WindowRules = WindowRules()) -> ValidationContext:
    """The known races and course points, read once (validation itself never opens the warehouse)."""
    return ValidationContext.from_frames(
        utc_frame(query(con, "SELECT race_id, distance_km, timezone, date, start_waves, course_time_limit_s FROM stg_races")),
        query(con, "SELECT race_id, point_id, kind, km FROM stg_course_points"),
        rules,
    )


def pending_batches(con: duckdb.DuckDBPyConnection, landing_dir: Path) -> list[landing.Batch]:
    """Landed batches not yet in landing_log, reference kinds first, then landing order."""
    done = merged_batch_ids(con)
    batches = landing.list_batches(landing_dir, skip=done)
    return sorted(batches, key=lambda b: (merge_order(b.kind), b.landed_at_utc, b.path.name))


def ingest_pending(con: duckdb.DuckDBPyConnection, landing_dir: Path, progress: Any = None,
                   rules: WindowRules = WindowRules(), kinds: set[str] | None = None,
                   max_batches: int | None = None, max_seconds: float | None = None) -> IngestSummary:
    """Merge every pending landing batch (of `kinds` only, the reference kinds always), in order;
    returns what was accepted and quarantined.

    `max_batches`, `max_seconds`: stop after that many batches, or before starting a batch once
    that long has passed (the first batch is always merged); `left` says how many are still pending."""
    summary = IngestSummary()
    context: ValidationContext | None = None
    pending = pending_batches(con, landing_dir)
    if kinds is not None:
        pending = [b for b in pending if b.kind in kinds or b.kind in CONTEXT_KINDS]
    started = time.perf_counter()
    for done, batch in enumerate(pending):
        if done and ((max_batches is not None and done >= max_batches)
                     or (max_seconds is not None and time.perf_counter() - started >= max_seconds)):
            summary.left = len(pending) - done
            break
        if context is None:
            context = load_context(con, rules)
        con.execute("BEGIN TRANSACTION")
        try:
            result = ingest_batch(con, batch, context)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            log.exception("ingest of landing batch %s (%s) failed; it stays pending", batch.path, batch.kind)
            raise
        if batch.kind in CONTEXT_KINDS:
            context = None  # the next batch may be for the race just merged
        summary.batches.append(result)
        if progress is not None:
            progress(result)
    return summary


def ingest_batch(con: duckdb.DuckDBPyConnection, batch: landing.Batch, context: ValidationContext | None = None) -> BatchResult:
    """Validate and merge one batch inside the caller's transaction."""
    context = context if context is not None else load_context(con)
    records, source, landed_at = landing.read_batch(batch)
    label = f"{batch.kind}:{source}" if source else batch.kind
    checked = validate_batch(batch.kind, records, context, landed_at)
    if batch.kind == "reports":
        checked = apply_retry_rule(checked, _stored_reports(con, checked))
    raw = _raw_frame(batch, records, landed_at, source, _personal_failures(checked.failures))
    append(con, "raw_records", raw)
    quarantined = _quarantine_rows(checked.failures, raw, label, landed_at, batch)
    append(con, "quarantine", quarantined)
    accepted = _merge(con, batch.kind, checked)
    log_batch(con, batch.batch_id, batch.kind, str(batch.path), source, landed_at, datetime.now(UTC),
              checked.rows, accepted, quarantined.height)
    reasons = quarantined.group_by("check").len().sort("len", descending=True).rows() if quarantined.height else []
    return BatchResult(batch.batch_id, batch.kind, source, checked.rows, accepted, quarantined.height,
                       [(str(r), int(n)) for r, n in reasons])


def _merge(con: duckdb.DuckDBPyConnection, batch_kind: str, checked: BatchValidation) -> int:
    """Upsert each accepted frame into its kind's staging table; returns the batch's records merged."""
    accepted = 0
    for kind_name, frame in checked.accepted.items():
        kind = KINDS[kind_name]
        if kind_name == "passings":
            frame = _passings_with_clock(con, frame)
        frame = frame.select([c for c in frame.columns if not c.startswith("_")])
        upsert(con, kind.staging_table, frame, kind.natural_key)
        # a results batch counts its runners (its passings are the runners' splits)
        if kind_name == batch_kind or (batch_kind == "results" and kind_name == "participants"):
            accepted += frame.height
    return accepted


def _stored_reports(con: duckdb.DuckDBPyConnection, checked: BatchValidation) -> pl.DataFrame:
    """The stored reports whose report_id the batch resends (the retry rule compares their contents)."""
    ids = checked.accepted["reports"].select(pl.col("report_id").cast(pl.String)).unique()
    con.register("_batch_report_ids", ids.to_arrow())
    try:
        columns = ", ".join(f"CAST({c} AS VARCHAR) AS {c}" if c.endswith("report_id") else c for c in REPORT_CONTENT)
        return utc_frame(query(con, f"SELECT CAST(report_id AS VARCHAR) AS report_id, {columns} FROM stg_cramp_reports "
                                    "WHERE CAST(report_id AS VARCHAR) IN (SELECT report_id FROM _batch_report_ids)"))
    finally:
        con.unregister("_batch_report_ids")


def _passings_with_clock(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> pl.DataFrame:
    """Fill passed_at_utc = wave start + net time where the feed gave net times only."""
    if frame.height == 0 or frame.get_column("passed_at_utc").null_count() == 0:
        return frame
    starts = query(con, "SELECT race_id, bib, wave_start_utc FROM stg_participants")
    starts = starts.with_columns(pl.col("wave_start_utc").dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
    return passings_with_clock(frame, starts)


def _personal_failures(failures: pl.DataFrame) -> dict[int, set[str]]:
    """Row -> columns whose value failed a check of a column that may hold a name (masked in raw and quarantine)."""
    found: dict[int, set[str]] = {}
    for row, column in failures.filter(pl.col("column").is_in(list(PERSONAL_COLUMNS))).select("_row", "column").iter_rows():
        found.setdefault(int(row), set()).add(column)
    return found


def mask_record(record_json: str, columns: set[str]) -> str:
    """The record as JSON with the named fields replaced by their length (docs/security.md)."""
    record = json.loads(record_json)
    for name in columns:
        if isinstance(record, dict) and record.get(name) is not None:
            record[name] = MASKED.format(n=len(str(record[name])))
    return json.dumps(record, default=str, sort_keys=True)


def _raw_frame(batch: landing.Batch, records: Any, landed_at: datetime, source: str,
               masked: dict[int, set[str]] | None = None) -> pl.DataFrame:
    """The batch's records as they arrived, except values of personal fields that failed their checks."""
    if isinstance(records, pl.DataFrame):
        texts = records.select(pl.struct(pl.all()).struct.json_encode())[:, 0].to_list()
        n = records.height
    else:
        texts = [json.dumps(r, default=str, sort_keys=True) for r in records]
        n = len(records)
    for row, columns in (masked or {}).items():
        texts[row] = mask_record(texts[row], columns)
    record_json = pl.Series(texts, dtype=pl.String)
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
