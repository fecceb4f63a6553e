"""The live cycle (publish.publisher.LiveCycle): urgent tables first, heavy marts behind, and
snapshot files left alone when their content did not change."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import polars as pl
import pytest

from racecramp import landing
from racecramp.columns import Column
from racecramp.marts import registry
from racecramp.publish.publisher import HEAVY, URGENT, LiveCycle
from racecramp.publish.snapshots import MARTS_BEHIND, load_snapshot, read_manifest, snapshot_path
from racecramp.warehouse.ingest import ingest_pending
from racecramp.warehouse.writer import open_writer

from race_day import GUN, _report

RELEASE_TIMEOUT_S = 60.0


def _threads(kind: str) -> ThreadPoolExecutor:
    """Builders in threads: the slow mart below is registered in this process only."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=kind)


def _cycle(settings, live: LiveCycle):
    with open_writer(settings.warehouse_path) as con:
        summary = ingest_pending(con, settings.landing_dir, rules=settings.window_rules)
        live.cycle(con, summary)
        return summary


def _cycle_until(settings, live: LiveCycle, done, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "the live cycle did not get there in time"
        _cycle(settings, live)
        time.sleep(0.05)


def _land_report(settings, n: int, bib: str) -> str:
    report = _report(n, bib)
    landing.append_records(settings.landing_dir, "reports", [report], source="intake:station:aid-05mi")
    return report["report_id"]


def _report_ids(settings) -> list[str]:
    return load_snapshot(settings.snapshot_dir, "cramp_reports", ("report_id",))["report_id"].to_list()


def _station_cases(settings) -> int:
    load = load_snapshot(settings.snapshot_dir, "station_load_15m", ("point_id", "observed"))
    return load.filter(pl.col("point_id") == "aid-05mi")["observed"].sum()


@pytest.fixture
def slow_mart(monkeypatch):
    """A heavy mart over cramp_reports whose build waits until the test releases it."""
    release = threading.Event()
    started = threading.Event()

    def build(inputs):
        started.set()
        if not release.wait(RELEASE_TIMEOUT_S):
            raise TimeoutError("slow_mart was never released")
        return inputs["cramp_reports"].select(pl.len().cast(pl.Int64).alias("reports"))

    mart = registry.Mart(name="slow_mart", description="test: a slow heavy mart", build=build, inputs=("cramp_reports",),
                         grain=(), columns=(Column("reports", pl.Int64, "reports counted", nullable=False),))
    monkeypatch.setitem(registry.MARTS, "slow_mart", mart)
    yield started, release
    release.set()


def test_a_new_report_is_published_while_a_slow_heavy_mart_is_still_building(race_day, slow_mart):
    started, release = slow_mart
    live = LiveCycle(race_day, heavy_every_s=0.0, builder=_threads)
    try:
        _land_report(race_day, 11, "105")
        _cycle_until(race_day, live, lambda: started.is_set())
        assert _station_cases(race_day) == 3  # the race day's two reports and report 11
        assert HEAVY in live.jobs and not live.jobs[HEAVY].done()

        report_id = _land_report(race_day, 12, "106")
        _cycle(race_day, live)
        assert report_id in _report_ids(race_day), "the merged report is published in the cycle that merged it"
        # the urgent marts follow it while the heavy build is still running: station load counts 4 reports
        _cycle_until(race_day, live, lambda: _station_cases(race_day) == 4)
        assert not live.jobs[HEAVY].done() and not snapshot_path(race_day.snapshot_dir, "slow_mart").exists()

        release.set()
        _cycle_until(race_day, live, lambda: not live.busy())
        counted = load_snapshot(race_day.snapshot_dir, "slow_mart")["reports"].to_list()
        assert counted == [4]  # a later build: the race day's two reports, 11 and 12
    finally:
        live.close()


def _behind(settings) -> dict[str, str]:
    return read_manifest(settings.snapshot_dir)[MARTS_BEHIND]


def test_the_manifest_names_the_marts_still_behind_what_it_counts(race_day, slow_mart):
    started, release = slow_mart
    live = LiveCycle(race_day, heavy_every_s=0.0, builder=_threads)
    try:
        _cycle_until(race_day, live, lambda: started.is_set())
        release.set()
        _cycle_until(race_day, live, lambda: not live.busy())
        assert _behind(race_day) == {}, "every mart caught up"
        started.clear()
        release.clear()

        _land_report(race_day, 11, "105")
        _cycle(race_day, live)  # merged and counted; the marts over reports are behind it
        manifest = read_manifest(race_day.snapshot_dir)
        assert manifest["counts"]["cramp_reports"] == 3
        assert {"slow_mart", "station_load_15m", "cramp_rate_by_station"} <= set(manifest[MARTS_BEHIND])
        assert "late_slowdown_by_edition" not in manifest[MARTS_BEHIND]  # reads no reports
        _cycle_until(race_day, live, lambda: started.is_set() and "station_load_15m" not in _behind(race_day))
        assert "slow_mart" in _behind(race_day), "a build still running is behind"
        release.set()
        _cycle_until(race_day, live, lambda: not live.busy())
        assert _behind(race_day) == {}
        assert load_snapshot(race_day.snapshot_dir, "slow_mart")["reports"].to_list() == [3]
    finally:
        live.close()


def _identity(path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns


def test_a_snapshot_whose_content_is_unchanged_is_not_rewritten(race_day):
    live = LiveCycle(race_day, heavy_every_s=0.0, builder=_threads)
    try:
        _cycle_until(race_day, live, lambda: live.urgent_built and not live.busy())
        reports = snapshot_path(race_day.snapshot_dir, "cramp_reports")
        # rebuilt (they read passings and reports) with the same content
        rebuilt = [snapshot_path(race_day.snapshot_dir, name) for name in ("alert_actions_rejected", "station_load_15m")]
        before = {path: _identity(path) for path in [reports, *rebuilt]}
        by_distance = snapshot_path(race_day.snapshot_dir, "station_forecast")
        by_distance_before = _identity(by_distance)

        # the same report sent again (a client retry): merged, republished, same content
        landing.append_records(race_day.landing_dir, "reports", [_report(1, "101")], source="intake:station:aid-05mi")
        # and a new passing: the urgent marts are rebuilt, alert_actions_rejected among them
        landing.append_records(race_day.landing_dir, "passings", [{
            "race_id": "boston-2017", "bib": "131", "point_id": "mat-05k", "km": 5.0, "net_time_s": 1650.0,
            "passed_at_utc": (GUN + timedelta(seconds=1650)).isoformat(), "simulated": True}], source="intake:feed:timing")
        built: set[str] = set()
        live.on_built = built.update
        summary = _cycle(race_day, live)
        assert {b.kind for b in summary.batches} == {"reports", "passings"} and summary.quarantined == 0
        _cycle_until(race_day, live, lambda: not live.busy())
        assert {"alert_actions_rejected", "station_load_15m", "station_forecast"} <= built
        assert {path: _identity(path) for path in before} == before
        assert _identity(by_distance) != by_distance_before, "a mart whose content changed is rewritten"
    finally:
        live.close()


def test_a_failed_mart_build_raises_from_the_next_cycle(race_day, monkeypatch):
    def broken(inputs):
        raise ValueError("builder broke on purpose")

    mart = registry.Mart(name="broken_mart", description="test: a mart that fails", build=broken, urgent=True,
                         inputs=("cramp_reports",), grain=(), columns=(Column("n", pl.Int64, "n"),))
    monkeypatch.setitem(registry.MARTS, "broken_mart", mart)
    live = LiveCycle(race_day, builder=_threads)
    try:
        with pytest.raises(ValueError, match="on purpose"):
            _cycle_until(race_day, live, lambda: False, timeout_s=60)
    finally:
        live.close()
    assert URGENT not in live.jobs
