"""Alert acknowledge / resolve from the command page go through the real intake and the ingest."""

from __future__ import annotations

import socket
from contextlib import contextmanager

import polars as pl

from racecramp import landing
from racecramp.landing.bulk import ingest_now
from racecramp.views.shared import Snapshots

from apptest_helpers import open_page, running_intake, shown


def _landed_actions(settings) -> list[dict]:
    records = []
    for batch in landing.list_batches(settings.landing_dir, kinds=["alert_actions"]):
        rows, _source, _at = landing.read_batch(batch)
        records.extend(rows if isinstance(rows, list) else rows.to_dicts())
    return records


def test_acknowledge_then_resolve_reach_the_alert_through_intake_and_ingest(small):
    alerts = Snapshots(small.snapshot_dir).table("alerts")
    target = alerts.filter(pl.col("status") == "open").row(0, named=True)
    before = len(_landed_actions(small))
    with running_intake(small):
        at = open_page(command_token="tok-command")
        at.button(key=f"ack-{target['alert_id']}").click().run()
        assert not at.exception
        assert any("acknowledge sent" in i.value for i in at.info)
        landed = _landed_actions(small)[before:]
        assert [(r["alert_id"], r["action"], r["by"]) for r in landed] == [(target["alert_id"], "acknowledge", "command")]  # the principal: no typed name

        ingest_now(small)
        after = Snapshots(small.snapshot_dir).table("alerts").filter(pl.col("alert_id") == target["alert_id"])
        assert after["status"].to_list() == ["acknowledged"] and after["acknowledged_by"].to_list() == ["command"]
        at = open_page(command_token="tok-command")
        assert at.button(key=f"ack-{target['alert_id']}").disabled
        assert any("acknowledged by command" in shown(c.value) for c in at.caption)

        at.button(key=f"resolve-{target['alert_id']}").click().run()
        ingest_now(small)
    at = open_page(command_token="tok-command")
    assert not any(target["message"] in shown(m.value) for m in at.markdown), "a resolved alert is no longer listed"


@contextmanager
def intake_down(monkeypatch):
    """The intake's port held by a socket that listens to nothing: every connection is refused,
    whatever else runs on this machine."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        monkeypatch.setenv("RACECRAMP_INTAKE_PORT", str(held.getsockname()[1]))
        yield


def test_intake_down_shows_the_action_was_not_sent(small, monkeypatch):
    target = Snapshots(small.snapshot_dir).table("alerts").row(0, named=True)
    before = len(_landed_actions(small))
    with intake_down(monkeypatch):
        at = open_page(command_token="tok-command")
        at.button(key=f"resolve-{target['alert_id']}").click().run()
    assert any("not sent" in e.value and "could not reach the intake" in e.value for e in at.error)
    assert len(_landed_actions(small)) == before


def _landed_closures(settings) -> list[dict]:
    records = []
    for batch in landing.list_batches(settings.landing_dir, kinds=["race_closures"]):
        rows, _source, _at = landing.read_batch(batch)
        records.extend(rows)
    return records


def test_close_race_needs_the_confirmation_then_lands_a_closure_through_the_intake(small):
    from racecramp.warehouse.sql import query
    from racecramp.warehouse.writer import open_writer

    from dashboard_fixtures import RACE

    with running_intake(small):
        at = open_page(command_token="tok-command")
        assert at.button(key=f"close-{RACE}").disabled, "closing needs the confirmation first"
        at.checkbox(key=f"confirm-close-{RACE}").check().run()
        assert not at.button(key=f"close-{RACE}").disabled
        at.button(key=f"close-{RACE}").click().run()
        assert not at.exception
        assert any(f"{RACE} closed at" in s.value for s in at.success)
        assert [(r["race_id"], r["closed_by"]) for r in _landed_closures(small)] == [(RACE, "command")]
        assert not at.checkbox(key=f"confirm-close-{RACE}").value, "the confirmation resets after a close"
    ingest_now(small)
    with open_writer(small.warehouse_path) as con:
        assert query(con, "SELECT race_id, closed_by FROM race_closures").rows() == [(RACE, "command")]


def test_close_race_with_the_intake_down_says_it_was_not_sent(small, monkeypatch):
    from dashboard_fixtures import RACE

    before = len(_landed_closures(small))
    with intake_down(monkeypatch):
        at = open_page(command_token="tok-command")
        at.checkbox(key=f"confirm-close-{RACE}").check().run()
        at.button(key=f"close-{RACE}").click().run()
    assert any("Close race not sent" in e.value and "could not reach the intake" in e.value for e in at.error)
    assert len(_landed_closures(small)) == before
