"""The drain loop: reports before a timing backlog, a heartbeat while it runs, and a run with
nothing to do that leaves at once."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from racecramp import landing
from racecramp.orchestration import drain as drain_module
from racecramp.orchestration import heartbeat
from racecramp.orchestration.drain import _live_cycle, drain
from racecramp.publish.publisher import LiveCycle
from racecramp.publish.snapshots import load_snapshot, snapshot_path
from racecramp.warehouse import ingest
from racecramp.warehouse.writer import open_writer

from race_day import GUN, _report


def _threads(kind: str) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1)


def _passing_batch(settings, n: int) -> None:
    landing.append_records(settings.landing_dir, "passings", [{
        "race_id": "boston-2017", "bib": str(5000 + n), "point_id": "mat-05k", "km": 5.0, "net_time_s": 1650.0,
        "passed_at_utc": (GUN + timedelta(seconds=1650)).isoformat(), "simulated": True}], source="intake:feed:timing")


def _cycle_with_backlog(settings, backlog: int):
    for n in range(backlog):
        _passing_batch(settings, n)
    report = _report(21, "110")
    landing.append_records(settings.landing_dir, "reports", [report], source="intake:station:aid-05mi")
    live = LiveCycle(settings, builder=_threads)
    try:
        with open_writer(settings.warehouse_path) as con:
            summary, steps, more = _live_cycle(con, settings, live)
        ids = load_snapshot(settings.snapshot_dir, "cramp_reports", ("report_id",))["report_id"].to_list()
        return [b.kind for b in summary.batches], more, report["report_id"] in ids
    finally:
        live.close()


def test_a_report_landed_behind_a_backlog_of_passings_is_published_in_the_first_cycle(race_day, monkeypatch):
    monkeypatch.setattr(drain_module, "MAX_BATCHES_PER_CYCLE", 6)
    monkeypatch.setattr(drain_module, "OTHER_MERGE_S", 600.0)
    kinds, more, published = _cycle_with_backlog(race_day, 10)
    assert kinds[0] == "reports" and kinds.count("passings") == 6 and more and published


def test_a_cycle_merges_other_batches_for_its_time_budget_then_comes_back_for_the_reports(race_day, monkeypatch):
    monkeypatch.setattr(drain_module, "OTHER_MERGE_S", 0.0)  # at least one batch, then the budget is spent
    monkeypatch.setattr(ingest, "MAX_GROUP_BATCHES", 1)  # feed batches one at a time (else the three are one merge)
    kinds, more, published = _cycle_with_backlog(race_day, 3)
    assert kinds == ["reports", "passings"] and more and published
    monkeypatch.setattr(drain_module, "OTHER_MERGE_S", 600.0)
    live = LiveCycle(race_day, builder=_threads)
    try:
        with open_writer(race_day.warehouse_path) as con:
            summary, _, more = _live_cycle(con, race_day, live)
    finally:
        live.close()
    assert [b.kind for b in summary.batches] == ["passings", "passings"] and not more


def test_a_drain_keeps_its_heartbeat_fresh_while_it_runs_and_stops_it_when_it_ends(race_day):
    _passing_batch(race_day, 1)
    seen_alive = []
    report = drain(race_day, linger_s=0.5, poll_s=0.1, live=LiveCycle(race_day, builder=_threads),
                   on_cycle=lambda summary, steps: seen_alive.append(heartbeat.drain_alive(race_day)))
    assert report.batches == 1 and seen_alive and all(seen_alive)
    assert not heartbeat.drain_alive(race_day)


def test_a_heartbeat_older_than_the_limit_is_a_dead_drain(race_day):
    heartbeat.beat(race_day)
    assert heartbeat.drain_alive(race_day)
    old = time.time() - heartbeat.DRAIN_ALIVE_FOR_S - 1
    os.utime(heartbeat.heartbeat_path(race_day), (old, old))
    assert not heartbeat.drain_alive(race_day)


def test_a_drain_with_nothing_new_leaves_at_once_and_rewrites_nothing(race_day):
    alerts = snapshot_path(race_day.snapshot_dir, "alerts")
    before = alerts.stat().st_mtime_ns
    started = time.monotonic()
    report = drain(race_day, linger_s=60.0, poll_s=0.1)
    assert report.batches == 0 and time.monotonic() - started < 30
    assert alerts.stat().st_mtime_ns == before
