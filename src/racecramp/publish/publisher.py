"""After each ingest: recompute the marts and publish what changed as snapshots.

A merged batch republishes the analyst tables its kind declares (landing.kinds), the marts
are recomputed from the warehouse (marts.build) and written beside them, the season dataset
gets the touched editions, and the manifest and replica are brought up to date.

Two ways to do it:
- `publish_after_ingest`: everything in one go (a bulk import, `racecramp marts`);
- `LiveCycle`: the drain loop's, incremental: the merged tables are published at once, the
  urgent marts (registry `urgent`) are rebuilt in the background as soon as their inputs
  change, the others at a bounded cadence, and unchanged snapshot files are not rewritten.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Callable

import duckdb
import polars as pl

from racecramp.durable import atomic_write
from racecramp.landing.kinds import ANALYST_TABLES, KINDS
from racecramp.marts.build import build_marts, needed_marts
from racecramp.marts.registry import (
    ALERT_ACTIONS,
    LANDING_LOG,
    MARTS,
    PREVIOUS_ALERTS,
    QUARANTINE,
    MartParams,
    downstream,
    published_marts,
)
from racecramp.publish.replica import ensure_replica
from racecramp.publish.snapshots import (
    MARTS_BEHIND,
    snapshot_path,
    write_if_changed,
    write_manifest,
    write_snapshot,
    write_snapshot_if_changed,
)
from racecramp.warehouse.mart_io import is_young, load_inputs, reload_inputs, store_marts, stored_mart
from racecramp.warehouse.sql import export_parquet, ingest_progress, row_counts

if TYPE_CHECKING:
    from racecramp.config import Settings
    from racecramp.warehouse.ingest import IngestSummary


def mart_params(settings: Settings) -> MartParams:
    """What the builders read of the settings (the live cycle and a full publish alike)."""
    return MartParams(stale_after_s=settings.weather_stale_after_s, windows=settings.window_rules,
                      weather_configured=settings.weather_url is not None)


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
    params = mart_params(settings)
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
        # published marts whose inputs changed after the build now published began, with the
        # wall time of the first such change (empty: every mart reflects the counts above)
        MARTS_BEHIND: {},
    }


# --------------------------------------------------------------------------- the live cycle

# Analyst tables too large to rewrite every cycle (50,000 runners: ~500,000 passings, ~0.3 s
# to export): the live cycle writes them at most every `large_every_s`.
LARGE_TABLES = frozenset({"passings"})
LARGE_EVERY_S = 5.0
# The non-urgent marts (rates, forecast, slowdown, survey models): ~3 s at 50,000 runners
# on 2 cores; rebuilt at most this often while their inputs keep changing.
HEAVY_EVERY_S = 15.0
URGENT, HEAVY = "urgent marts", "heavy marts"


@dataclass
class Step:
    """One step of a live cycle, as the Prefect flow reports it."""

    step: str
    seconds: float
    count: int  # tables written, marts built, batches merged: what the step says
    detail: str = ""


def publish_table_if_changed(con: duckdb.DuckDBPyConnection, table: str, snapshot_dir) -> bool:
    return write_if_changed(snapshot_path(snapshot_dir, table), lambda tmp: export_parquet(con, table, tmp))


# The season dataset (docs/season.md) has no live reader: written at most this often, and
# when a drain ends.
SEASON_EVERY_S = 300.0
# Mart builds run in child processes at a lower CPU priority than the drain: on a busy 2-core
# machine the merge and the publish of a report come first, the urgent marts next.
BUILD_NICENESS = {URGENT: 3, HEAVY: 10}


def _lower_priority(niceness: int) -> None:
    os.nice(niceness)


def low_priority_builder(kind: str) -> Executor:
    """One mart-building child process (spawned: the drain's threads are not forked), niced."""
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_lower_priority, initargs=(BUILD_NICENESS[kind],))


def _build(tables: dict[str, pl.DataFrame], params: MartParams, only: set[str],
           reuse: dict[str, pl.DataFrame]) -> tuple[dict[str, pl.DataFrame], dict[str, float]]:
    seconds: dict[str, float] = {}
    built = build_marts(tables, params=params, only=only, reuse=reuse, seconds=seconds)
    return built, seconds


def _keep_earliest(into: dict[str, str], entries: dict[str, str]) -> None:
    """Merge mart -> first-change times (ISO UTC, so they sort as text), keeping the earlier of two."""
    for name, since in entries.items():
        into[name] = min(since, into.get(name, since))


class LiveCycle:
    """The drain loop's publish, across its cycles: urgent first, heavy marts at a cadence.

    Each `cycle` (on the writer's connection, after a merge):
    1. publishes the analyst tables the merge changed (the large ones at most every
       `large_every_s`) and the manifest: a merged report is visible within the cycle;
    2. stores and publishes the mart builds that have finished;
    3. starts, when none is running, a build of the urgent marts whose inputs changed and,
       at most every `heavy_every_s`, one of the other marts whose inputs changed.
    Builds run in `builder()` executors (default: one low-priority child process each for the
    urgent and the heavy marts) on frames read here (the mart engine is pure): only the
    caller touches the warehouse. A build that failed raises from the next `cycle`.
    A snapshot file whose content is unchanged is not rewritten.

    The manifest names the published marts that are behind the tables it counts
    (`marts_behind_since_utc`): a reader of the rates can tell "being recomputed" from current,
    and a test (or an analyst) can wait for every mart to catch up with what it counted. A mart
    with a refresh interval (the survey cohort model) counts as current while its result is
    younger than the interval.
    """

    def __init__(self, settings: Settings, heavy_every_s: float = HEAVY_EVERY_S, large_every_s: float = LARGE_EVERY_S,
                 clock: Callable[[], float] = time.monotonic, builder: Callable[[str], Executor] = low_priority_builder) -> None:
        self.settings = settings
        self.params = mart_params(settings)
        self.heavy_every_s = heavy_every_s
        self.season_every_s = SEASON_EVERY_S
        self.large_every_s = large_every_s
        self.clock = clock
        self.frames: dict[str, pl.DataFrame] = {}
        self.marts: dict[str, pl.DataFrame] = {}  # the latest result of every mart built, internal ones too
        self.unread: set[str] | None = None  # inputs changed since `frames` was read (None: read all)
        self.changed: dict[str, set[str] | None] = {URGENT: None, HEAVY: None}  # None: build all of them
        self.pending_large: set[str] = set()
        self.large_at: dict[str, float] = {}
        self.heavy_at = float("-inf")
        self.season_at = clock()
        self.replica_tables: list[str] = []
        self.published_counts: dict[str, int] = {}  # rows of each large table as last written
        self.batches: list = []  # merged since the season dataset was last written
        self.jobs: dict[str, Future] = {}
        self.builder = builder
        self.pools: dict[str, Executor] = {}
        self.steps: list[Step] = []  # of the last cycle
        self.urgent_built = False
        self.on_built: Callable[[set[str]], None] | None = None  # told the names of each finished build
        self.behind: dict[str, str] = {}  # published mart -> first change (UTC) no build started yet has read
        self.building: dict[str, dict[str, str]] = {}  # kind -> the `behind` entries its running build covers
        self.manifest_behind: dict[str, str] | None = None  # as last written to the manifest

    # ------------------------------------------------------------------ when there is work

    def _heavy_due(self, now: float) -> bool:
        # heavy marts read urgent ones (exposure, weather_heat): they wait for the first urgent build
        return (HEAVY not in self.jobs and self.changed[HEAVY] != set() and self.urgent_built
                and now - self.heavy_at >= self.heavy_every_s)

    def due(self) -> bool:
        """Whether a cycle now would do something even with nothing new landed."""
        now = self.clock()
        return (any(job.done() for job in self.jobs.values())
                or (URGENT not in self.jobs and self.changed[URGENT] != set())
                or self._heavy_due(now)
                or any(now - self.large_at.get(t, float("-inf")) >= self.large_every_s for t in self.pending_large))

    def busy(self) -> bool:
        """Builds running or changes not yet built or published."""
        return bool(self.jobs or self.pending_large or self.changed[URGENT] != set() or self.changed[HEAVY] != set()
                    or (self.batches and self.season_every_s == 0))

    # ------------------------------------------------------------------ one cycle

    def _step(self, step: str, started: float, count: int, detail: str = "") -> None:
        self.steps.append(Step(step, time.perf_counter() - started, count, detail))

    def cycle(self, con: duckdb.DuckDBPyConnection, summary: IngestSummary | None) -> list[Step]:
        """Publish what the merge changed and what finished building; start the builds due."""
        from racecramp.warehouse.ingest import IngestSummary

        self.steps = []
        summary = summary or IngestSummary()
        snapshot_dir = self.settings.snapshot_dir
        now = self.clock()
        wrote = False

        started = time.perf_counter()
        republished = tables_to_republish(summary, snapshot_dir)
        changes = republished | _state_changes(summary)
        self.batches += summary.batches
        for key, pending in self.changed.items():
            if pending is not None:
                pending.update(changes)
        if self.unread is not None:
            self.unread.update(changes)
        if changes:
            since = datetime.now(UTC).isoformat()
            for name in downstream(changes):
                if MARTS[name].published:
                    self.behind.setdefault(name, since)
        self.pending_large |= republished & LARGE_TABLES
        written = [t for t in sorted(republished - LARGE_TABLES) if publish_table_if_changed(con, t, snapshot_dir)]
        for table in sorted(self.pending_large):
            if now - self.large_at.get(table, float("-inf")) >= self.large_every_s:
                self.pending_large.discard(table)
                self.large_at[table] = now
                if publish_table_if_changed(con, table, snapshot_dir):
                    written.append(table)
        wrote |= bool(written)
        if republished:
            self._step("publish tables", started, len(written), ", ".join(written))

        for kind in [k for k, job in self.jobs.items() if job.done()]:
            started = time.perf_counter()
            covered = self.building.pop(kind, {})
            try:
                built, seconds = self.jobs.pop(kind).result()  # a failed build raises here
            except BaseException:
                _keep_earliest(self.behind, covered)  # still behind: nothing was published
                raise
            self.marts.update(built)
            self.urgent_built |= kind == URGENT
            if self.on_built is not None:
                self.on_built(set(built))
            published = {name: frame for name, frame in built.items() if MARTS[name].published}
            store_marts(con, published)
            rewritten = [name for name, frame in published.items()
                         if write_snapshot_if_changed(frame, snapshot_path(snapshot_dir, name))]
            wrote |= bool(rewritten)
            slowest = max(seconds, key=seconds.get) if seconds else ""
            self._step(f"publish {kind}", started, len(rewritten),
                       f"built {len(built)} in {sum(seconds.values()):.2f} s (slowest {slowest}); rewrote {', '.join(rewritten) or 'none'}")

        if URGENT not in self.jobs and self.changed[URGENT] != set():
            self._start(con, URGENT, self.changed[URGENT])
        if self._heavy_due(now):
            self.heavy_at = now
            self._start(con, HEAVY, self.changed[HEAVY])
        if self.batches and now - self.season_at >= self.season_every_s:
            self.season_at = now
            started = time.perf_counter()
            from racecramp.season.export import write_touched_editions

            editions = write_touched_editions(con, self.settings, IngestSummary(self.batches))
            self.batches = []
            self._step("season dataset", started, len(editions), ", ".join(editions))

        behind = self.marts_behind()
        if wrote or summary.changed or behind != self.manifest_behind:
            started = time.perf_counter()
            tables = [t for t in sorted(set(ANALYST_TABLES) | set(published_marts()))
                      if snapshot_path(snapshot_dir, t).exists()]
            manifest = manifest_now(con, tables)
            for table in LARGE_TABLES:  # counts of what is published, not of what is merged
                if table in written:
                    self.published_counts[table] = manifest["counts"].get(table, 0)
                elif table not in self.published_counts:
                    path = snapshot_path(snapshot_dir, table)
                    self.published_counts[table] = pl.scan_parquet(path).select(pl.len()).collect().item() if path.exists() else 0
                manifest["counts"][table] = self.published_counts[table]
            manifest[MARTS_BEHIND] = behind
            write_manifest(snapshot_dir, manifest)
            self.manifest_behind = behind
            if tables != self.replica_tables:
                ensure_replica(self.settings, tables)
                self.replica_tables = tables
            self._step("manifest", started, len(tables))
        return self.steps

    def _start(self, con: duckdb.DuckDBPyConnection, kind: str, changed: set[str] | None) -> None:
        """Read the inputs that changed, and start building the marts of `kind` they touch."""
        started = time.perf_counter()
        urgent = kind == URGENT
        candidates = {m.name for m in MARTS.values() if m.urgent == urgent}
        stale = candidates if changed is None else downstream(changed) & candidates
        # what this build will bring up to date (a reusable mart is current by its interval)
        covered = {name: self.behind.pop(name) for name in sorted(stale) if name in self.behind}
        stale = {name for name in stale if not self._reusable(con, name)}
        self.changed[kind] = set()
        if not stale:
            return
        self.building[kind] = covered
        unread, self.unread = self.unread, set()
        self.frames = reload_inputs(con, self.frames, unread)
        previous = self.marts.get("alerts")
        if previous is None:
            previous = stored_mart(con, "alerts")
        self.frames[PREVIOUS_ALERTS] = previous if previous is not None else MARTS["alerts"].empty()
        if kind not in self.pools:
            self.pools[kind] = self.builder(kind)
        # send the builder only what the stale marts read (the frames are pickled to it)
        reuse = {name: frame for name, frame in self.marts.items() if name not in stale}
        needed = needed_marts(stale, reuse)
        reads = {i for name in needed for i in MARTS[name].inputs} | {"races", "cramp_reports", "passings"}
        self.jobs[kind] = self.pools[kind].submit(
            _build, {n: f for n, f in self.frames.items() if n in reads}, self.params, stale,
            {n: f for n, f in reuse.items() if n in reads})
        self._step(f"start {kind}", started, len(stale), ", ".join(sorted(stale)))

    def marts_behind(self) -> dict[str, str]:
        """Published marts not yet rebuilt with the latest merged data: name -> first such change (UTC)."""
        out = dict(self.behind)
        for covered in self.building.values():
            _keep_earliest(out, covered)
        return dict(sorted(out.items()))

    def _reusable(self, con: duckdb.DuckDBPyConnection, name: str) -> bool:
        """A mart with a refresh interval (the survey cohort model) whose latest result is younger than it."""
        mart = MARTS[name]
        if mart.refresh_after_s <= 0:
            return False
        latest = self.marts.get(name)
        if latest is None:
            latest = stored_mart(con, name)
            if latest is not None and is_young(latest, mart.refresh_after_s):
                self.marts[name] = latest
        return is_young(latest, mart.refresh_after_s)

    def finish(self, con: duckdb.DuckDBPyConnection, timeout_s: float = 600.0) -> None:
        """Build and publish everything still pending (at the end of a drain), then stop the builders."""
        deadline = self.clock() + timeout_s
        self.heavy_at = float("-inf")
        self.large_every_s = 0.0
        self.season_every_s = 0.0
        try:
            while self.busy():
                if self.clock() > deadline:
                    raise TimeoutError(f"live cycle: marts still building after {timeout_s:.0f} s")
                self.cycle(con, None)
                self.heavy_at = float("-inf")
                for job in list(self.jobs.values()):
                    job.exception()  # wait; cycle() raises it
        finally:
            self.close()

    def close(self) -> None:
        for pool in self.pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        self.pools = {}
