"""views.shared: the race clock, freshness, ages for people, the snapshot folder."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from racecramp.publish.snapshots import write_snapshot
from racecramp.views import shared

from view_frames import NOW, RACE, T, reports  # noqa: F401

# --------------------------------------------------------------------------- race clock


def test_race_clock_is_the_latest_report_or_passing():
    passings = pl.DataFrame({"passed_at_utc": [NOW - timedelta(minutes=3)]}, schema={"passed_at_utc": T})
    assert shared.race_clock(reports([("a", "1", 7, "aid_station")]), passings, NOW + timedelta(days=3000)) == NOW - timedelta(minutes=3)


def test_race_clock_never_runs_ahead_of_the_wall_clock():
    future = pl.DataFrame({"passed_at_utc": [NOW + timedelta(hours=2)]}, schema={"passed_at_utc": T})
    assert shared.race_clock(None, future, NOW) == NOW


def test_race_clock_is_unknown_before_any_event():
    assert shared.race_clock(None, pl.DataFrame(schema={"passed_at_utc": T}), NOW) is None


def test_race_clock_rejects_a_naive_wall_clock():
    with pytest.raises(ValueError, match="wall_now_utc"):
        shared.race_clock(None, None, datetime(2017, 4, 17, 16, 40))


def test_data_is_stale_two_minutes_after_the_last_ingest():
    wall = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    manifest = {"published_at_utc": (wall - timedelta(seconds=119)).isoformat(),
                "last_ingest_utc": (wall - timedelta(seconds=119)).isoformat()}
    assert not shared.freshness(manifest, wall).stale
    manifest["last_ingest_utc"] = (wall - timedelta(seconds=121)).isoformat()
    state = shared.freshness(manifest, wall)
    assert state.stale and "STALE" in state.message and state.age_s == 121


def test_nothing_published_is_stale():
    assert shared.freshness(None, NOW).stale


@pytest.mark.parametrize(("seconds", "text"), [(45, "45 s"), (12 * 60, "12 min"), (3 * 3600 + 300, "3 h 05 min"),
                                               (52 * 3600, "2 d 4 h")])
def test_ages_are_written_for_people(seconds, text):
    assert shared.format_age(seconds) == text


def test_snapshot_folder_lists_the_races_published(tmp_path):
    write_snapshot(pl.DataFrame({"race_id": ["boston-2018", "boston-2017", "boston-2017"]}), tmp_path / "races.parquet")
    assert shared.Snapshots(tmp_path).race_ids() == ["boston-2017", "boston-2018"]
    assert not os.path.exists(tmp_path / "alerts.parquet") and shared.Snapshots(tmp_path).table("alerts") is None


def test_freshness_says_when_marts_are_catching_up_with_the_counts():
    wall = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    manifest = {"published_at_utc": wall.isoformat(), "last_ingest_utc": wall.isoformat(),
                "marts_behind_since_utc": {"cramp_rate_by_station": (wall - timedelta(seconds=12)).isoformat(),
                                           "station_forecast": (wall - timedelta(seconds=4)).isoformat()}}
    state = shared.freshness(manifest, wall)
    assert set(state.marts_behind) == {"cramp_rate_by_station", "station_forecast"}
    assert "Recomputing 2 marts" in state.message and "last 12 s of data" in state.message
    manifest["marts_behind_since_utc"] = {}
    assert "Recomputing" not in shared.freshness(manifest, wall).message
