"""Data quality page (AppTest): quarantine with reasons, feed freshness, landing backlog."""

from __future__ import annotations

import polars as pl

from racecramp import landing
from racecramp.orchestration.drain import landing_backlog
from racecramp.views.shared import Snapshots

from apptest_helpers import fresh, metric, open_page


def test_quarantined_report_is_shown_with_its_reason(small):
    quarantine = Snapshots(small.snapshot_dir).table("quarantine")
    at = open_page("pages/data_quality.py")
    assert metric(at, "Quarantined rows").value == str(quarantine.height) == "1"
    rows = pl.from_pandas(at.dataframe[-1].value)
    assert rows["message"].to_list() == quarantine["message"].to_list()
    assert rows["column"].to_list() == ["severity"]
    assert "extreme" in rows["message"][0] or "extreme" in rows["record"][0]


def test_feed_freshness_is_measured_on_the_race_clock(small):
    fresh(small)
    at = open_page("pages/data_quality.py")
    feeds = pl.from_pandas(at.dataframe[0].value)
    by_feed = {r["feed"]: r for r in feeds.iter_rows(named=True)}
    # The race clock is the latest passing (16:40); the last report was 16:35, the last weather 15:54.
    assert by_feed["timing (passings)"]["age_on_race_clock_s"] == 0
    assert by_feed["cramp reports"]["age_on_race_clock_s"] == 5 * 60
    assert by_feed["weather"]["age_on_race_clock_s"] == 46 * 60


def test_landing_backlog_counts_batches_not_yet_ingested(small):
    at = open_page("pages/data_quality.py")
    assert metric(at, "Landing backlog").value == "0"
    landing.append_records(small.landing_dir, "alert_actions",
                           [{"alert_id": "x", "action": "acknowledge", "by": "t", "at_utc": "2017-04-17T16:41:00+00:00"}],
                           source="test")
    at = open_page("pages/data_quality.py")
    assert metric(at, "Landing backlog").value == str(landing_backlog(small)) == "1"
