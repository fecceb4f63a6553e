"""Command page (AppTest) on the small race: the numbers on screen are the hand counts and the marts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from racecramp.views.shared import Snapshots

from apptest_helpers import fresh, metric, open_page, set_last_ingest
from apptest_helpers import shown as shown_text
from dashboard_fixtures import SMALL_EXPECTED


def test_cramp_kpis_equal_the_hand_counts(small):
    at = open_page()
    assert metric(at, "Last 15 min").value == str(SMALL_EXPECTED["reports_last_15m"])
    assert metric(at, "Last 60 min").value == str(SMALL_EXPECTED["reports_last_60m"])
    assert metric(at, "Total").value == str(SMALL_EXPECTED["reports_total"])
    assert metric(at, "Cases per 1000 starters").value == f"{SMALL_EXPECTED['cases_per_1000']:.1f}"
    assert any(f"{SMALL_EXPECTED['cases']} / {SMALL_EXPECTED['runners']} starters" in c.value for c in at.caption)


def test_each_window_count_shows_what_was_expected_from_the_station_load_mart(small):
    from racecramp.views import command as command_view

    snaps = Snapshots(small.snapshot_dir)
    at = open_page()
    load = snaps.table("station_load_15m")
    clock = snaps.table("runner_status")["race_clock_utc"].max()
    for minutes in (15, 60):
        expected, passed = command_view.window_load(load, load["race_id"][0], clock, minutes)
        assert any(c.value == command_view.window_caption(expected, passed) for c in at.caption), minutes
    assert any(c.value.startswith("expected ") and "runners passed stations" in c.value for c in at.caption)


def test_runner_counts_equal_the_runner_status_mart(small):
    status = Snapshots(small.snapshot_dir).table("runner_status")
    counts = dict(status.group_by("status").len().iter_rows())
    at = open_page()
    assert metric(at, "Runners on course").value == str(counts["on_course"]) == str(SMALL_EXPECTED["runners_on_course"])
    assert metric(at, "Finishers").value == str(counts["finished"]) == str(SMALL_EXPECTED["finishers"])
    assert metric(at, "In medical now").value == str(counts["in_medical"]) == str(SMALL_EXPECTED["in_medical"])
    assert metric(at, "DNF / transported").value == str(counts["dnf"]) == str(SMALL_EXPECTED["dnf"])


def test_wbgt_now_is_the_latest_reading_with_flag_change_and_source(small):
    heat = Snapshots(small.snapshot_dir).table("weather_heat").sort("observed_at_utc")
    latest, previous = heat.row(-1, named=True), heat.row(-2, named=True)
    at = open_page()
    wbgt = metric(at, "WBGT now")
    assert wbgt.value == f"{latest['wbgt_c']:.1f} °C"
    assert wbgt.delta.startswith(f"{latest['wbgt_c'] - previous['wbgt_c']:+.1f} °C since")
    assert any(f"{latest['wbgt_flag'].upper()} FLAG" in m.value for m in at.markdown)
    assert latest["wbgt_flag"] == "yellow"
    source = [c.value for c in at.caption if c.value.startswith("Source")]
    assert "iem-asos:KBOS" in shown_text(source[0]) and latest["wbgt_method"] in shown_text(source[0])


def test_now_is_the_race_clock_of_the_replayed_race(small):
    at = open_page()
    clock = [c.value for c in at.caption if c.value.startswith("Race clock")]
    assert "2017-04-17 12:40 local (16:40 UTC)" in clock[0]


def test_simulated_report_is_labelled(small):
    at = open_page()
    assert any("SIMULATED" in w.value for w in at.warning)
    assert "Cramp reports — SIMULATED" in [h.value for h in at.subheader]


def test_stale_data_is_a_loud_error_and_fresh_data_is_not(small):
    set_last_ingest(small, datetime.now(UTC) - timedelta(minutes=10))
    at = open_page()
    assert any("STALE" in e.value for e in at.error)
    fresh(small)
    at = open_page()
    assert not any("STALE" in e.value for e in at.error)
    assert any(c.value.startswith("Data as of") for c in at.caption)


def test_open_alerts_are_listed_and_buttons_follow_their_status(small):
    alerts = Snapshots(small.snapshot_dir).table("alerts")
    assert alerts.height == 2
    at = open_page(command_token="tok-command")
    shown = [m.value for m in at.markdown if "[**WARNING**]" in m.value or "[**CRITICAL**]" in m.value]
    assert len(shown) == alerts.filter(pl.col("status") != "resolved").height
    for row in alerts.iter_rows(named=True):
        assert any(row["message"] in shown_text(text) for text in shown)
        ack = at.button(key=f"ack-{row['alert_id']}")
        assert ack.disabled == (row["status"] != "open")
        assert not at.button(key=f"resolve-{row['alert_id']}").disabled


def test_without_command_token_alert_buttons_are_disabled(small):
    at = open_page()
    alert_ids = Snapshots(small.snapshot_dir).table("alerts")["alert_id"].to_list()
    assert all(at.button(key=f"resolve-{a}").disabled for a in alert_ids)


def test_an_alert_message_with_markup_is_shown_as_text(small):
    from racecramp.publish.snapshots import snapshot_path, write_snapshot

    path = snapshot_path(small.snapshot_dir, "alerts")
    original = pl.read_parquet(path)
    hostile = "<b>x</b><style>body{display:none}</style> :red[fake] [link](http://evil.example)"
    try:
        write_snapshot(original.with_columns(pl.lit(hostile).alias("message"), pl.lit("<i>dr</i>").alias("acknowledged_by")), path)
        at = open_page(command_token="tok-command")
        blocks = [m for m in at.markdown if hostile in shown_text(m.value)]
        assert blocks, "the message is on the page"
        for block in blocks:
            assert not block.proto.allow_html, "no HTML is rendered from alert data"
            assert "<b>" not in block.value and "\\<b\\>" in block.value and "\\:red\\[" in block.value
        assert any("\\<i\\>dr\\</i\\>" in c.value for c in at.caption)
    finally:
        write_snapshot(original, path)
