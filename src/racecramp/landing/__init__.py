"""The append-only landing zone: a record acknowledged to a sender is a record on disk.

Every write into racecramp — a bulk CLI import, a live HTTP report, a dashboard's alert
acknowledgement — arrives here first as one *batch file*:

    landing/<kind>/<yyyymmddThhmmss.ffffff>-<batch_id>.<jsonl|parquet>

A batch is written to a temporary name, fsync'ed, renamed into place and the directory
fsync'ed, so after `append_*` returns the batch survives a crash or kill -9. Batch files
are never modified or deleted; the ingest records which batches it has merged (in the
warehouse, in the same transaction as the merge), so ingesting twice changes nothing.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Container, Iterable

import polars as pl

from racecramp.durable import atomic_write, ensure_dir
from racecramp.landing.kinds import KIND_NAMES
from racecramp.landing.kinds import kind as kind_named

KINDS = KIND_NAMES
BATCH_SUFFIXES = (".jsonl", ".parquet")


@dataclass(frozen=True)
class Batch:
    """One landed batch file."""

    batch_id: str
    kind: str
    path: Path
    landed_at_utc: datetime
    source: str

    @property
    def name(self) -> str:
        return self.path.name


def _check_kind(kind: str) -> None:
    kind_named(kind)  # raises naming the known kinds


def _batch_path(landing_dir: Path, kind: str, ext: str, now: datetime, batch_id: str) -> Path:
    directory = ensure_dir(landing_dir / kind)  # a new kind's folder is synced into its parent
    return directory / f"{now:%Y%m%dT%H%M%S.%f}-{batch_id}.{ext}"


def append_records(
    landing_dir: Path, kind: str, records: Iterable[dict[str, Any]], source: str, batch_id: str | None = None
) -> Batch:
    """Durably append JSON records as one batch; returns after the data is on disk.

    Each line is {"_source": ..., "_landed_at_utc": ..., "record": {...}}; values that
    JSON cannot carry (datetimes) are written as ISO strings.
    """
    _check_kind(kind)
    now = datetime.now(UTC)
    batch_id = batch_id or uuid.uuid4().hex
    landed = now.isoformat()
    lines = [
        json.dumps({"_source": source, "_landed_at_utc": landed, "record": rec}, default=_json_default)
        for rec in records
    ]
    if not lines:
        raise ValueError(f"refusing to land an empty {kind} batch from {source}")
    path = _batch_path(Path(landing_dir), kind, "jsonl", now, batch_id)

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")

    atomic_write(path, write)
    return Batch(batch_id, kind, path, now, source)


def append_frame(landing_dir: Path, kind: str, frame: pl.DataFrame, source: str) -> Batch:
    """Durably append a typed frame (bulk imports) as one Parquet batch."""
    _check_kind(kind)
    if frame.height == 0:
        raise ValueError(f"refusing to land an empty {kind} batch from {source}")
    now = datetime.now(UTC)
    batch_id = uuid.uuid4().hex
    path = _batch_path(Path(landing_dir), kind, "parquet", now, batch_id)
    meta = {"racecramp.source": source, "racecramp.landed_at_utc": now.isoformat()}
    atomic_write(path, lambda tmp: frame.write_parquet(tmp, metadata=meta))
    return Batch(batch_id, kind, path, now, source)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} value {value!r} to the landing zone")


def _batch_names(directory: Path) -> list[str]:
    """Names of the complete batch files in one kind's folder (a temporary is hidden, see durable)."""
    try:
        with os.scandir(directory) as entries:
            return [e.name for e in entries if not e.name.startswith(".") and e.name.endswith(BATCH_SUFFIXES)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def list_batches(landing_dir: Path, kinds: Iterable[str] = KINDS, skip: Container[str] = ()) -> list[Batch]:
    """Every complete batch in landing order (temporary files of interrupted writes are skipped),
    but those whose batch_id is in `skip` (the merged ones, for the ingest).

    Called every drain cycle over a folder that grows all race (~7,000 batches an hour at race
    peak): only the names are read (os.scandir) and a Batch is made for what is not skipped
    (bench/landing_bench.py)."""
    batches: list[Batch] = []
    for kind in kinds:
        directory = Path(landing_dir) / kind
        for name in _batch_names(directory):
            stem, _, batch_id = name.rpartition(".")[0].rpartition("-")
            if batch_id in skip:
                continue
            landed = datetime.fromisoformat(stem).replace(tzinfo=UTC)
            batches.append(Batch(batch_id, kind, directory / name, landed, source=""))
    batches.sort(key=lambda b: (b.landed_at_utc, b.path.name))
    return batches


def count_batches(landing_dir: Path, kinds: Iterable[str] = KINDS) -> int:
    """How many complete batches have landed (what the drain polls: no parsing)."""
    return sum(len(_batch_names(Path(landing_dir) / kind)) for kind in kinds)


def read_batch(batch: Batch) -> tuple[list[dict[str, Any]] | pl.DataFrame, str, datetime]:
    """The batch's records (list of dicts for JSONL, a frame for Parquet), its source and landing time."""
    if batch.path.suffix == ".parquet":
        frame = pl.read_parquet(batch.path)
        meta = pl.read_parquet_metadata(batch.path)
        landed = datetime.fromisoformat(meta.get("racecramp.landed_at_utc", batch.landed_at_utc.isoformat()))
        return frame, meta.get("racecramp.source", ""), landed
    records: list[dict[str, Any]] = []
    source = ""
    landed = batch.landed_at_utc
    with open(batch.path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            envelope = json.loads(line)
            source = envelope.get("_source", source)
            landed = datetime.fromisoformat(envelope.get("_landed_at_utc", landed.isoformat()))
            records.append(envelope["record"])
    return records, source, landed
