"""Issue 4: a full Boston 2017 replay at 600x through the live stack (real Prefect server,
served ingest, uvicorn intake) ends with every sent event counted exactly once."""

from __future__ import annotations

import time
from collections import Counter

import polars as pl
import pytest

from racecramp.publish.snapshots import read_manifest, read_snapshot
from racecramp.simulate import replay

from stack import replay_stack, wait_for_counts

pytestmark = pytest.mark.integration

SEED = 20170417
SPEED = 600.0
# snapshot table <- replay kind
TABLE_OF = {
    "participants": "participants",
    "passings": "passings",
    "weather": "weather_observations",
    "reports": "cramp_reports",
    "survey": "survey_responses",
}


@pytest.fixture(scope="module")
def source():
    return replay.load_shipped_source("boston-2017")


@pytest.fixture(scope="module")
def live(tmp_path_factory, source):
    with replay_stack(tmp_path_factory.mktemp("replay"), source) as running:
        yield running



def test_boston_2017_at_600x_lands_every_event_exactly_once(live, source):
    settings, tokens = live
    assert replay.ensure_race_published(settings, source) is True  # a fresh stack: the replay imports the race first
    events = replay.build_events(source, SEED)
    sent_by_kind = Counter(kind for _, kind, _ in events)
    sender = replay.IntakeSender(f"http://{settings.intake_host}:{settings.intake_port}", tokens)
    sender.check_tokens(events)
    try:
        wall_s = replay.run(events, sender.send, SPEED)
    finally:
        sender.close()
    race_s = (events[-1][0] - events[0][0]).total_seconds()
    assert wall_s >= race_s / SPEED - 1  # it really was paced, not dumped
    assert dict(sender.sent) == dict(sent_by_kind)
    assert sender.throttled == 0, "the default abuse limits never throttle a replay"

    want = {TABLE_OF[kind]: n for kind, n in sent_by_kind.items()}
    wait_for_counts(settings, want, timeout_s=240)
    time.sleep(5)  # a late duplicate would show up now
    counts = read_manifest(settings.snapshot_dir)["counts"]
    assert {table: counts[table] for table in want} == want

    passings = read_snapshot(settings.snapshot_dir, "passings")
    assert passings.select(pl.struct("bib", "point_id").n_unique()).item() == sent_by_kind["passings"]
    reports = read_snapshot(settings.snapshot_dir, "cramp_reports")
    sent_ids = {record["report_id"] for _, kind, record in events if kind == "reports"}
    assert set(reports["report_id"].cast(pl.String)) == sent_ids
    assert reports["simulated"].all() and read_snapshot(settings.snapshot_dir, "survey_responses")["simulated"].all()
    # nothing the replay sent was quarantined
    assert read_snapshot(settings.snapshot_dir, "quarantine").height == 0
