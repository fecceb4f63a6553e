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
# Feed kinds whose consecutive pending batches are validated and merged together, in one
# transaction with each batch's landing_log row (a timing feed posts every half second: one
# validation and one upsert per ~100 ms batch was the drain's limit at race peak). Each record
# keeps its own batch's landing time for the time window; quarantine and raw records name
# their batch and row as if merged alone. Reports stay one batch at a time (the retry rule
# compares each with what is stored), as do bulk files (Parquet batches).
GROUPED_KINDS = frozenset({"passings", "weather", "survey"})
MAX_GROUP_BATCHES = 64
MAX_GROUP_RECORDS = 20_000


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
    done = 0
    while done < len(pending):
        if done and ((max_batches is not None and done >= max_batches)
                     or (max_seconds is not None and time.perf_counter() - started >= max_seconds)):
            summary.left = len(pending) - done
            break
        group = _group(pending, done, None if max_batches is None else max_batches - done)
        if context is None:
            context = load_context(con, rules)
        con.execute("BEGIN TRANSACTION")
        try:
            results = ingest_group(con, group, context) if len(group) > 1 else [ingest_batch(con, group[0], context)]
            con.execute("COMMIT")
            group = group[:len(results)]  # a group stops at MAX_GROUP_RECORDS: the rest are merged next
        except Exception:
            con.execute("ROLLBACK")
            log.exception("ingest of landing batch%s %s (%s) failed; %s pending", "es" if len(group) > 1 else "",
                          ", ".join(str(b.path) for b in group), group[0].kind, "they stay" if len(group) > 1 else "it stays")
            raise
        done += len(group)
        if group[0].kind in CONTEXT_KINDS:
            context = None  # the next batch may be for the race just merged
        for result in results:
            summary.batches.append(result)
            if progress is not None:
                progress(result)
    return summary


def _group(pending: list[landing.Batch], start: int, room: int | None) -> list[landing.Batch]:
    """The batches from `start` merged together: consecutive JSONL batches of one grouped kind
    (GROUPED_KINDS), at most MAX_GROUP_BATCHES (and `room`); any other batch alone."""
    first = pending[start]
    if first.kind not in GROUPED_KINDS or first.path.suffix != ".jsonl":
        return [first]
    limit = min(MAX_GROUP_BATCHES, room if room is not None else MAX_GROUP_BATCHES)
    group = [first]
    for batch in pending[start + 1:start + limit]:
        if batch.kind != first.kind or batch.path.suffix != ".jsonl":
            break
        group.append(batch)
    return group


def ingest_group(con: duckdb.DuckDBPyConnection, batches: list[landing.Batch], context: ValidationContext) -> list[BatchResult]:
    """Validate and merge several JSONL batches of one grouped kind inside the caller's transaction:
    one validation and one upsert for all, each batch logged, quarantined and kept raw as its own.
    Merges the first batches up to MAX_GROUP_RECORDS records; returns one result per batch merged."""
    kind = batches[0].kind
    read = []
    total = 0
    for batch in batches:  # up to MAX_GROUP_RECORDS (the first batch whatever its size); the rest wait
        records, source, landed_at = landing.read_batch(batch)
        if read and total + len(records) > MAX_GROUP_RECORDS:
            break
        read.append((batch, records, source, landed_at))
        total += len(records)
    if len(read) == 1:
        return [_ingest_read(con, *read[0], context)]
    records = [record for _, batch_records, _, _ in read for record in batch_records]
    received = pl.Series([landed for _, batch_records, _, landed in read for _ in batch_records], dtype=pl.Datetime("us", "UTC"))
    checked = validate_batch(kind, records, context, received)
    merged = _merge(con, kind, checked)
    good_rows = checked.accepted[kind].get_column("_row")
    raws, quarantines, results = [], [], []
    offset = 0
    for batch, batch_records, source, landed_at in read:
        n = len(batch_records)
        failures = checked.failures.filter(pl.col("_row").is_between(offset, offset + n - 1)).with_columns(
            pl.col("_row") - offset)
        accepted = int(good_rows.is_between(offset, offset + n - 1).sum())
        raw, quarantined, result = _batch_outcome(con, batch, batch_records, source, landed_at, failures, n, accepted)
        raws.append(raw)
        quarantines.append(quarantined)
        results.append(result)
        offset += n
    append(con, "raw_records", pl.concat(raws, how="vertical_relaxed"))
    append(con, "quarantine", pl.concat(quarantines))
    if sum(r.accepted for r in results) != merged:
        raise RuntimeError(f"ingest of {len(read)} {kind} batches: {merged} records merged, "
                           f"{sum(r.accepted for r in results)} counted by batch")
    return results


def ingest_batch(con: duckdb.DuckDBPyConnection, batch: landing.Batch, context: ValidationContext | None = None) -> BatchResult:
    """Validate and merge one batch inside the caller's transaction."""
    context = context if context is not None else load_context(con)
    return _ingest_read(con, batch, *landing.read_batch(batch), context)


def _ingest_read(con: duckdb.DuckDBPyConnection, batch: landing.Batch, records: Any, source: str, landed_at: datetime,
                 context: ValidationContext) -> BatchResult:
    checked = validate_batch(batch.kind, records, context, landed_at)
    if batch.kind == "reports":
        checked = apply_retry_rule(checked, _stored_reports(con, checked))
    accepted = _merge(con, batch.kind, checked)
    raw, quarantined, result = _batch_outcome(con, batch, records, source, landed_at, checked.failures, checked.rows, accepted)
    append(con, "raw_records", raw)
    append(con, "quarantine", quarantined)
    return result


def _batch_outcome(con: duckdb.DuckDBPyConnection, batch: landing.Batch, records: Any, source: str, landed_at: datetime,
               failures: pl.DataFrame, rows: int, accepted: int) -> tuple[pl.DataFrame, pl.DataFrame, BatchResult]:
    """One merged batch's landing_log row; its raw records and quarantine rows (for the caller to
    append) and its result. `failures` by the batch's own row numbers."""
    label = f"{batch.kind}:{source}" if source else batch.kind
    raw = _raw_frame(batch, records, landed_at, source, _personal_failures(failures))
    quarantined = _quarantine_rows(failures, raw, label, landed_at, batch)
    log_batch(con, batch.batch_id, batch.kind, str(batch.path), source, landed_at, datetime.now(UTC),
              rows, accepted, quarantined.height)
    reasons = quarantined.group_by("check").len().sort("len", descending=True).rows() if quarantined.height else []
    return raw, quarantined, BatchResult(batch.batch_id, batch.kind, source, rows, accepted, quarantined.height,
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
