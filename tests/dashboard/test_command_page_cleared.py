"""Command page (AppTest): an open alert whose condition cleared says when, and stays for a human."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from racecramp.publish.snapshots import snapshot_path, write_snapshot
from racecramp.views.shared import Snapshots

from apptest_helpers import open_page


def test_an_open_alert_whose_condition_cleared_shows_its_cleared_time(small):
    path = snapshot_path(small.snapshot_dir, "alerts")
    alerts = Snapshots(small.snapshot_dir).table("alerts")
    target = alerts.filter(pl.col("status") != "resolved").row(0, named=True)
    cleared = datetime(2017, 4, 17, 17, 42, tzinfo=UTC)  # 13:42 in Boston
    write_snapshot(alerts.with_columns(
        pl.when(pl.col("alert_id") == target["alert_id"]).then(pl.lit(cleared)).otherwise(pl.col("cleared_at_utc"))
        .alias("cleared_at_utc")), path)
    at = open_page()
    captions = [c.value for c in at.caption if target["alert_id"] in c.value]
    assert captions and "cleared at 13:42 (still open for a human to resolve)" in captions[0]
    assert at.button(key=f"resolve-{target['alert_id']}") is not None  # still there to resolve
