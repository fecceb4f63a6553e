"""Race-day loop pieces the Prefect flows call: drain the landing zone, record status.

A served Prefect run costs seconds to start (a new process re-imports everything), far
more than the few seconds a medical director can wait. So one ingest run, once started by
an event, keeps draining: it merges whatever is pending every `poll_s` and ends only after
the landing zone has been quiet for `linger_s`. Under race-day load one run stays alive
and latency is about one poll; after a quiet spell the next event starts a new run.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Callable

from racecramp import landing
from racecramp.config import Settings
from racecramp.durable import atomic_write_text
from racecramp.publish.publisher import publish_after_ingest
from racecramp.warehouse.ingest import IngestSummary, ingest_pending
from racecramp.warehouse.writer import open_writer

log = logging.getLogger(__name__)


@dataclass
class DrainReport:
    cycles: int
    batches: int
    accepted: int
    quarantined: int
    seconds: float


def _landed_count(landing_dir: Path) -> int:
    return len(landing.list_batches(landing_dir))


def drain(
    settings: Settings,
    linger_s: float = 60.0,
    poll_s: float = 0.5,
    max_s: float | None = None,
    on_cycle: Callable[[IngestSummary], None] | None = None,
) -> DrainReport:
    """Ingest and publish until nothing new has landed for `linger_s` seconds."""
    started = time.monotonic()
    last_work = started
    seen = -1
    cycles = batches = accepted = quarantined = 0
    while True:
        landed = _landed_count(settings.landing_dir)
        if landed != seen:
            with open_writer(settings.warehouse_path) as con:
                summary = ingest_pending(con, settings.landing_dir, rules=settings.window_rules)
                if summary.changed or cycles == 0:
                    publish_after_ingest(con, settings, summary)
            seen = landed
            cycles += 1
            if summary.changed:
                last_work = time.monotonic()
                batches += len(summary.batches)
                accepted += summary.accepted
                quarantined += summary.quarantined
                write_status(settings, "ingest", {"batches": len(summary.batches), "accepted": summary.accepted, "quarantined": summary.quarantined})
                if on_cycle is not None:
                    on_cycle(summary)
        now = time.monotonic()
        if now - last_work >= linger_s or (max_s is not None and now - started >= max_s):
            break
        time.sleep(poll_s)
    return DrainReport(cycles, batches, accepted, quarantined, time.monotonic() - started)


def status_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "status"


def write_status(settings: Settings, component: str, detail: dict) -> None:
    """Record a component's last activity (read by `racecramp status` and the dashboard)."""
    path = status_dir(settings) / f"{component}.json"
    atomic_write_text(path, json.dumps({"at_utc": datetime.now(UTC).isoformat(), **detail}, default=str))


def read_status(settings: Settings, component: str) -> dict | None:
    path = status_dir(settings) / f"{component}.json"
    return json.loads(path.read_text()) if path.exists() else None


def landing_backlog(settings: Settings) -> int:
    """Batches landed but not yet ingested, read from the published manifest (no DB lock)."""
    from racecramp.publish.snapshots import read_manifest

    manifest = read_manifest(settings.snapshot_dir) or {}
    return max(0, _landed_count(settings.landing_dir) - int(manifest.get("batches_ingested", 0)))
