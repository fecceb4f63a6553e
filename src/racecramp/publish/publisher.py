"""After each ingest: recompute the marts and publish what changed as snapshots.

A merged batch republishes the analyst tables its kind declares (landing.kinds), the marts
are recomputed from the warehouse (marts.build) and written beside them, the season dataset
gets the touched editions, and the manifest and replica are brought up to date.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from racecramp.durable import atomic_write
from racecramp.landing.kinds import ANALYST_TABLES, KINDS
from racecramp.marts.build import build_marts
from racecramp.marts.registry import ALERT_ACTIONS, LANDING_LOG, MARTS, QUARANTINE, MartParams, downstream
from racecramp.publish.replica import ensure_replica
from racecramp.publish.snapshots import snapshot_path, write_manifest, write_snapshot
from racecramp.warehouse.mart_io import is_young, load_inputs, store_marts, stored_mart
from racecramp.warehouse.sql import export_parquet, ingest_progress, row_counts

if TYPE_CHECKING:
    from racecramp.config import Settings
    from racecramp.warehouse.ingest import IngestSummary


def tables_to_republish(summary: IngestSummary | None, snapshot_dir) -> set[str]:
    """Analyst tables the merged kinds change, quarantine when anything was quarantined, and any
    table never published yet; every table when there is no summary (a full publish)."""
    if summary is None:
        return set(ANALYST_TABLES)
    tables: set[str] = set()
    for kind in {b.kind for b in summary.batches}:
        tables.update(KINDS[kind].republishes)
    if summary.quarantined:
        tables.add("quarantine")
    tables.update(t for t in ANALYST_TABLES if not snapshot_path(snapshot_dir, t).exists())
    return tables


def publish_table(con: duckdb.DuckDBPyConnection, table: str, snapshot_dir) -> None:
    atomic_write(snapshot_path(snapshot_dir, table), lambda tmp: export_parquet(con, table, tmp))


def refresh_marts(con: duckdb.DuckDBPyConnection, settings: Settings, changed: set[str] | None) -> dict[str, pl.DataFrame]:
    """Recompute the marts from the warehouse and store them; returns the published ones.

    `changed`: the analyst tables this cycle republished (None: a full publish, everything is
    recomputed). A mart with a refresh interval (the survey cohort model) keeps its stored
    result in a live cycle while that is younger than the interval or none of its inputs changed.
    """
    tables = load_inputs(con)
    reuse: dict[str, pl.DataFrame] = {}
    if changed is not None:
        stale = downstream(changed)
        for mart in MARTS.values():
            if mart.refresh_after_s > 0:
                stored = stored_mart(con, mart.name)
                if stored is not None and stored.height and (is_young(stored, mart.refresh_after_s) or mart.name not in stale):
                    reuse[mart.name] = stored
    params = MartParams(stale_after_s=settings.weather_stale_after_s, windows=settings.window_rules,
                        weather_configured=settings.weather_url is not None)
    built = build_marts(tables, params=params,
                        only=[m for m in MARTS if m not in reuse], reuse=reuse)
    marts = {name: frame for name, frame in {**built, **reuse}.items() if MARTS[name].published}
    store_marts(con, {name: frame for name, frame in marts.items() if name not in reuse})
    return marts


def publish_after_ingest(con: duckdb.DuckDBPyConnection, settings: Settings, summary: IngestSummary | None) -> dict:
    """Recompute marts and publish what changed; returns the manifest written."""
    from racecramp.season.export import write_touched_editions

    snapshot_dir = settings.snapshot_dir
    republished = tables_to_republish(summary, snapshot_dir)
    for table in sorted(republished):
        publish_table(con, table, snapshot_dir)
    # a full publish (no summary: `racecramp marts`, the demo) recomputes even the slow marts
    marts = refresh_marts(con, settings, None if summary is None else republished | _state_changes(summary))
    for name, frame in marts.items():
        write_snapshot(frame, snapshot_path(snapshot_dir, name))
    write_touched_editions(con, settings, summary)  # season dataset partitions (docs/season.md)
    manifest = manifest_now(con, sorted(set(ANALYST_TABLES) | set(marts)))
    write_manifest(snapshot_dir, manifest)
    ensure_replica(settings, manifest["tables"])
    return manifest


def _state_changes(summary: IngestSummary) -> set[str]:
    """Mart inputs that are not analyst tables but change with the batches merged."""
    kinds = {b.kind for b in summary.batches}
    changed = {LANDING_LOG} if summary.batches else set()
    if "alert_actions" in kinds:
        changed.add(ALERT_ACTIONS)
    if summary.quarantined:
        changed.add(QUARANTINE)
    return changed


def manifest_now(con: duckdb.DuckDBPyConnection, tables: list[str]) -> dict:
    """What is published, when, and how far the ingest has got."""
    last, batches = ingest_progress(con)
    return {
        "published_at_utc": datetime.now(UTC).isoformat(),
        "last_ingest_utc": last.isoformat() if last else None,
        "batches_ingested": batches,
        "tables": tables,
        "counts": row_counts(con, ANALYST_TABLES),
    }
