"""The replay driver: pacing in race time, and the offline stream file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from racecramp.simulate import replay
from racecramp.simulate.stream import stream_digest

T0 = datetime(2017, 4, 17, 13, 0, tzinfo=UTC)


class Clock:
    """A wall clock the test moves: sleeping advances it, nothing else does."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _events(offsets_s: list[float]) -> list[replay.Event]:
    return [(T0 + timedelta(seconds=s), "weather", {"i": i}) for i, s in enumerate(offsets_s)]


def test_each_event_is_sent_when_its_race_time_comes_at_the_chosen_speed():
    clock, sent = Clock(), []
    events = _events([0, 0, 60, 120, 600])
    replay.run(events, lambda chunk: sent.append((clock.now, [e[2]["i"] for e in chunk])), speed=60, clock=clock, sleep=clock.sleep)
    # at 60x a minute of race time is a wall second; events due together go in one call
    assert [ids for _, ids in sent] == [[0, 1], [2], [3], [4]]
    for (wall_s, ids), expected_s in zip(sent, [0.0, 1.0, 2.0, 10.0]):
        assert expected_s <= wall_s <= expected_s + replay.TICK_S + 1e-9, (ids, wall_s)


def test_speed_zero_sends_everything_without_waiting():
    clock, sent = Clock(), []
    replay.run(_events([0, 3600, 7200]), sent.append, speed=0, clock=clock, sleep=clock.sleep)
    assert clock.now == 0.0 and [len(chunk) for chunk in sent] == [3]


def test_progress_reports_the_race_clock_and_the_count():
    clock, seen = Clock(), []
    replay.run(_events([0, 60]), lambda chunk: None, speed=60, on_progress=seen.append, clock=clock, sleep=clock.sleep)
    assert [(p.race_clock_utc, p.sent_events, p.total_events) for p in seen] == [(T0, 1, 2), (T0 + timedelta(seconds=60), 2, 2)]


def test_a_written_stream_reads_back_equal_with_its_digest_in_the_manifest(tmp_path):
    events = [(T0, "participants", {"race_id": "r", "bib": "1"}), (T0 + timedelta(seconds=5), "passings", {"bib": "1", "km": 5.0})]
    stream, manifest = replay.write_stream(events, tmp_path, "r-seed1")
    assert replay.read_stream(stream) == events
    written = json.loads(manifest.read_text())
    assert written["sha256"] == stream_digest(events) and written["by_kind"] == {"participants": 1, "passings": 1}
    assert written["simulated"] is True


def test_a_stream_file_with_an_unknown_kind_is_refused_naming_the_line(tmp_path):
    path = tmp_path / "bad.events.jsonl"
    path.write_text(json.dumps([T0.isoformat(), "participants", {}]) + "\n" + json.dumps([T0.isoformat(), "gossip", {}]) + "\n")
    with pytest.raises(replay.ReplayError, match="line 2: kind 'gossip'"):
        replay.read_stream(path)


def test_each_event_is_sent_as_its_races_station_or_feed():
    report = {"race_id": "boston-2017", "point_id": "aid-20mi"}
    assert replay.principal_for("reports", report) == "station:boston-2017:aid-20mi"
    assert replay.principal_for("passings", {"race_id": "boston-2018"}) == "feed:timing:boston-2018"
    assert replay.principal_for("participants", {"race_id": "boston-2018"}) == "feed:timing:boston-2018"
    assert replay.principal_for("weather", {"race_id": "boston-2017"}) == "feed:weather:boston-2017"
    assert replay.principal_for("survey", {"race_id": "boston-2017"}) == "feed:survey:boston-2017"
