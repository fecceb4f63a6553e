"""Atomic Parquet snapshots that every reader uses, and the read replica for `racecramp sql`.

Readers never open warehouse.duckdb (while the writer holds it, DuckDB refuses any other
process, even read-only). After each ingest the writer copies the analyst tables and the
marts to `snapshots/<table>.parquet` (temp file, fsync, os.replace: a reader sees the old
file or the new one, never half of one). `replica.duckdb` holds views over those files, so
SQL users see every new snapshot without the replica being rewritten.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from racecramp.warehouse.writer import ANALYST_TABLES

if TYPE_CHECKING:
    from racecramp.config import Settings
    from racecramp.warehouse.ingest import IngestSummary

MANIFEST = "_manifest.json"

# Which analyst tables a landing kind changes (only those are re-published).
KIND_TABLES = {
    "races": ("races",),
    "course_points": ("course_points",),
    "participants": ("participants",),
    "results": ("participants", "passings"),
    "passings": ("passings",),
    "weather": ("weather_observations",),
    "reports": ("cramp_reports",),
    "survey": ("survey_responses",),
    "alert_actions": (),
    "race_closures": ("race_closures",),
}


def snapshot_path(snapshot_dir: Path, table: str) -> Path:
    return Path(snapshot_dir) / f"{table}.parquet"


def write_snapshot(frame: pl.DataFrame, path: Path) -> None:
    """Write a Parquet file atomically (readers see old or new, never partial)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    frame.write_parquet(tmp, statistics=True)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _copy_table(con: duckdb.DuckDBPyConnection, table: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # UUID and JSON become plain text so every Parquet reader sees strings, not binary
    columns = con.sql(f"DESCRIBE {table}").fetchall()
    select = ", ".join(
        f'CAST("{name}" AS VARCHAR) AS "{name}"' if dtype in ("UUID", "JSON") else f'"{name}"' for name, dtype, *_ in columns
    )
    con.execute(f"COPY (SELECT {select} FROM {table}) TO '{tmp}' (FORMAT parquet)")
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def publish_after_ingest(con: duckdb.DuckDBPyConnection, settings: Settings, summary: IngestSummary | None) -> dict:
    """Recompute marts and publish what changed; returns the manifest written."""
    from racecramp.marts.build import COHORT_REFRESH_S, compute_and_store_marts
    from racecramp.season.export import write_touched_editions

    snapshot_dir = settings.snapshot_dir
    changed_kinds = {b.kind for b in summary.batches} if summary is not None else set(KIND_TABLES)
    tables = set()
    for kind in changed_kinds:
        tables.update(KIND_TABLES.get(kind, ()))
    if summary is None or summary.quarantined:
        tables.add("quarantine")
    for table in ANALYST_TABLES:
        if not snapshot_path(snapshot_dir, table).exists():
            tables.add(table)
    for table in sorted(tables):
        _copy_table(con, table, snapshot_path(snapshot_dir, table))
    # a full publish (no summary: `racecramp marts`, the demo) recomputes even the slow marts
    marts = compute_and_store_marts(con, settings, refresh_cohort_after_s=COHORT_REFRESH_S if summary is not None else 0.0)
    for name, frame in marts.items():
        write_snapshot(frame, snapshot_path(snapshot_dir, name))
    write_touched_editions(con, settings, summary)  # season dataset partitions (docs/season.md)
    manifest = write_manifest(con, settings, sorted(set(ANALYST_TABLES) | set(marts)))
    ensure_replica(settings, manifest["tables"])
    return manifest


def write_manifest(con: duckdb.DuckDBPyConnection, settings: Settings, tables: list[str]) -> dict:
    last = con.sql("SELECT max(ingested_at_utc), count(*) FROM landing_log").fetchall()[0]
    counts = {
        t: con.sql(f"SELECT count(*) FROM {t}").fetchall()[0][0]
        for t in ANALYST_TABLES
    }
    manifest = {
        "published_at_utc": datetime.now(UTC).isoformat(),
        "last_ingest_utc": last[0].isoformat() if last[0] else None,
        "batches_ingested": last[1],
        "tables": tables,
        "counts": counts,
    }
    path = Path(settings.snapshot_dir) / MANIFEST
    tmp = path.with_name(f".{MANIFEST}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, path)
    return manifest


def read_manifest(snapshot_dir: Path) -> dict | None:
    path = Path(snapshot_dir) / MANIFEST
    if not path.exists():
        return None
    return json.loads(path.read_text())


def read_snapshot(snapshot_dir: Path, table: str) -> pl.DataFrame:
    """A published table; a clear error when nothing has been published yet."""
    path = snapshot_path(snapshot_dir, table)
    if not path.exists():
        raise FileNotFoundError(f"no published snapshot {path}: run an import or `racecramp marts` first")
    return pl.read_parquet(path)


def ensure_replica(settings: Settings, tables: list[str]) -> Path:
    """replica.duckdb: one view per published table over its Parquet snapshot."""
    replica = Path(settings.replica_path)
    existing: set[str] = set()
    if replica.exists():
        try:
            with duckdb.connect(str(replica), read_only=True) as con:
                existing = {r[0] for r in con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        except duckdb.IOException:
            return replica  # a reader has it open right now; the views already point at the files
    if set(tables) <= existing:
        return replica
    tmp = replica.with_name(f".{replica.name}.{os.getpid()}.tmp")
    if tmp.exists():
        tmp.unlink()
    with duckdb.connect(str(tmp)) as con:
        for table in tables:
            parquet = snapshot_path(settings.snapshot_dir, table).resolve()
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{parquet}')")
    os.replace(tmp, replica)
    return replica
