"""Race-day loop pieces the Prefect flows call: drain the landing zone, record status.

A served Prefect run costs seconds to start (a new process re-imports everything), far
more than the few seconds a medical director can wait. So one ingest run, once started by
an event, keeps draining: it merges whatever is pending every `poll_s` and ends only after
the landing zone has been quiet for `linger_s`. Under race-day load one run stays alive
and latency is about one poll; after a quiet spell the next event starts a new run.

Each cycle publishes through publish.publisher.LiveCycle (merged tables at once, urgent marts
as soon as they are built, heavy marts at a cadence); `incremental=False` publishes
everything every cycle instead (the reference the latency bench compares against).

While it runs, the drain keeps a heartbeat file fresh (orchestration.heartbeat); the intake does not
announce a landed batch to Prefect while it is fresh (a running drain picks it up), so one
drain run serves a whole busy spell instead of every event starting a run.
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
from racecramp.orchestration import heartbeat
from racecramp.publish.publisher import LiveCycle, Step, publish_after_ingest
from racecramp.warehouse.ingest import IngestSummary, ingest_pending, pending_batches
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
    return landing.count_batches(landing_dir)


# Reports and alert actions are merged and published first in each cycle; then other batches
# for at most OTHER_MERGE_S (at least one): a timing-feed backlog holds a report back by about
# that long, not by the whole backlog. With batches left the next cycle starts at once, so the
# backlog is merged at full speed between the reports.
URGENT_KINDS = {"reports", "alert_actions"}
# How often an idle drain looks for new batches: counting names costs ~1 ms per 1,000 batches
# landed (bench/landing_bench.py), so a report waits at most this long to be noticed.
POLL_S = 0.2
OTHER_MERGE_S = 0.3
MAX_BATCHES_PER_CYCLE = 64


def _merge(con, settings: Settings, **which) -> IngestSummary:
    return ingest_pending(con, settings.landing_dir, rules=settings.window_rules, **which)


def _live_cycle(con, settings: Settings, live: LiveCycle) -> tuple[IngestSummary, list[Step], bool]:
    """Merge and publish the urgent kinds, then the others (bounded); (all merged, steps, batches left)."""
    t = time.perf_counter()
    urgent = _merge(con, settings, kinds=URGENT_KINDS)
    steps = [Step("merge urgent", time.perf_counter() - t, len(urgent.batches),
                  f"{urgent.accepted} accepted, {urgent.quarantined} quarantined")]
    if urgent.changed:
        steps += live.cycle(con, urgent)
    t = time.perf_counter()
    rest = _merge(con, settings, max_batches=MAX_BATCHES_PER_CYCLE, max_seconds=OTHER_MERGE_S)
    steps.append(Step("merge", time.perf_counter() - t, len(rest.batches),
                      f"{rest.accepted} accepted, {rest.quarantined} quarantined"))
    steps += live.cycle(con, rest)
    return IngestSummary(urgent.batches + rest.batches), steps, rest.left > 0


def drain(
    settings: Settings,
    linger_s: float = 60.0,
    poll_s: float = POLL_S,
    max_s: float | None = None,
    on_cycle: Callable[[IngestSummary, list[Step]], None] | None = None,
    incremental: bool = True,
    live: LiveCycle | None = None,
    leave_if_nothing_new: bool = True,
) -> DrainReport:
    """Ingest and publish until nothing new has landed (and nothing is left to build) for `linger_s` seconds.

    `on_cycle(summary, steps)` is called after every cycle that merged or published something.
    With `leave_if_nothing_new`, a drain whose first merge finds nothing ends at once (a run
    that waited behind another drain, or a fallback run with nothing to do)."""
    started = time.monotonic()
    last_work = started
    seen = -1
    cycles = batches = accepted = quarantined = 0
    if incremental and live is None:
        live = LiveCycle(settings)
    try:
        while True:
            heartbeat.beat(settings)
            landed = _landed_count(settings.landing_dir)
            if landed != seen or (live is not None and live.due()):
                with open_writer(settings.warehouse_path) as con:
                    if cycles == 0 and leave_if_nothing_new and not pending_batches(con, settings.landing_dir):
                        log.info("drain: nothing new in the landing zone; leaving")
                        return DrainReport(1, 0, 0, 0, time.monotonic() - started)
                    if live is not None:
                        summary, steps, more = _live_cycle(con, settings, live)
                    else:
                        t = time.perf_counter()
                        summary, more = _merge(con, settings), False
                        steps = [Step("merge", time.perf_counter() - t, len(summary.batches))]
                    if live is None and (summary.changed or cycles == 0):
                        t = time.perf_counter()
                        publish_after_ingest(con, settings, summary)
                        steps.append(Step("publish everything", time.perf_counter() - t, 1))
                seen = -1 if more else landed  # batches left for the next cycle: come back at once
                cycles += 1
                if summary.changed:
                    last_work = time.monotonic()
                    batches += len(summary.batches)
                    accepted += summary.accepted
                    quarantined += summary.quarantined
                    write_status(settings, "ingest", {"batches": len(summary.batches), "accepted": summary.accepted, "quarantined": summary.quarantined})
                if on_cycle is not None and (summary.changed or len(steps) > 1):
                    on_cycle(summary, steps)
            now = time.monotonic()
            quiet = now - last_work >= linger_s and (live is None or not live.busy())
            if max_s is not None and now - started >= max_s:
                break
            if quiet:
                # stop the heartbeat first, then look once more: a batch landed before the intake
                # saw the heartbeat stop is merged here; one landed after it is announced
                heartbeat.stop(settings)
                if _landed_count(settings.landing_dir) == seen:
                    break
                last_work = time.monotonic()
                continue
            time.sleep(poll_s)
        if live is not None:
            with open_writer(settings.warehouse_path) as con:
                summary = ingest_pending(con, settings.landing_dir, rules=settings.window_rules)
                live.cycle(con, summary)
                live.finish(con)
            batches += len(summary.batches)
            accepted += summary.accepted
            quarantined += summary.quarantined
    finally:
        if live is not None:
            live.close()
        heartbeat.stop(settings)
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
