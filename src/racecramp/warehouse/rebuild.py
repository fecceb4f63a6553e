"""`racecramp rebuild`: make warehouse.duckdb again from the landing zone.

The landing zone holds every acknowledged batch and is never edited, so it is the source of
truth: the rebuild merges every batch into a fresh file with the one ingest
(`warehouse.ingest.ingest_pending`, so in the same order and by the same rules as the live
ingest), then publishes. The alerts' lifecycle (which alert opened at which race clock, who
acknowledged it) is not in the landing zone; the rebuild takes it from the last published
alerts snapshot when there is one, so acknowledged alerts stay acknowledged.

The new file is built beside the old one under the writer lock and moved into place only
when complete; the old file is kept aside (`warehouse.before-rebuild-<time>.duckdb`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Callable

import duckdb

from racecramp.config import Settings
from racecramp.durable import fsync_dir, temporary_path
from racecramp.marts.registry import MARTS
from racecramp.publish.publisher import publish_after_ingest
from racecramp.publish.snapshots import load_snapshot
from racecramp.warehouse.ingest import BatchResult, ingest_pending
from racecramp.warehouse.sql import replace_table
from racecramp.warehouse.writer import connect, writer_lock

log = logging.getLogger(__name__)

ALERTS = "alerts"


@dataclass(frozen=True)
class RebuildReport:
    batches: int
    accepted: int
    quarantined: int
    alerts_carried: int | None  # None: no published alerts to carry over
    old_file: Path | None  # where the previous warehouse file was set aside
    seconds: float


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def carry_alert_history(con: duckdb.DuckDBPyConnection, snapshot_dir: Path) -> int | None:
    """Store the published alerts as the warehouse's previous alerts; their count, or None."""
    published = load_snapshot(snapshot_dir, ALERTS)
    if published is None:
        return None
    schema = MARTS[ALERTS].schema
    missing = [c for c in schema if c not in published.columns]
    if missing:
        log.warning("published alerts snapshot lacks %s; alerts are evaluated afresh", ", ".join(missing))
        return None
    replace_table(con, ALERTS, published.select([published[c].cast(t) for c, t in schema.items()]))
    return published.height


def rebuild(settings: Settings, progress: Callable[[BatchResult], None] | None = None) -> RebuildReport:
    """Recreate the warehouse from every landing batch, publish, and swap it into place."""
    started = datetime.now(UTC)
    target = Path(settings.warehouse_path)
    with writer_lock(target):
        scratch = temporary_path(target)
        for leftover in (scratch, _wal(scratch)):
            leftover.unlink(missing_ok=True)
        try:
            con = connect(scratch)
            try:
                summary = ingest_pending(con, settings.landing_dir, progress=progress)
                carried = carry_alert_history(con, settings.snapshot_dir)
                publish_after_ingest(con, settings, None)
                con.execute("CHECKPOINT")
            finally:
                con.close()
            old_file = None
            if target.exists():
                old_file = target.with_name(f"{target.stem}.before-rebuild-{started:%Y%m%dT%H%M%S}{target.suffix}")
                os.replace(target, old_file)
                if _wal(target).exists():
                    os.replace(_wal(target), _wal(old_file))
            os.replace(scratch, target)
            fsync_dir(target.parent)
        finally:
            for leftover in (scratch, _wal(scratch)):
                leftover.unlink(missing_ok=True)
    seconds = (datetime.now(UTC) - started).total_seconds()
    return RebuildReport(len(summary.batches), summary.accepted, summary.quarantined, carried, old_file, seconds)
