"""racecramp rebuild: the warehouse made again from the landing zone holds every table as it was."""

from __future__ import annotations

from racecramp import landing
from racecramp.publish.snapshots import read_snapshot
from racecramp.warehouse.fingerprint import fingerprints
from racecramp.warehouse.rebuild import rebuild
from racecramp.warehouse.writer import open_writer


def _prints(settings):
    with open_writer(settings.warehouse_path) as con:
        return fingerprints(con)


def test_a_deleted_warehouse_rebuilt_from_the_landing_zone_has_every_table_as_before(race_day):
    before = _prints(race_day)
    assert before["stg_passings"].rows == 90 and before["quarantine"].rows == 1 and before["alerts"].rows >= 1
    batches = landing.list_batches(race_day.landing_dir)
    race_day.warehouse_path.unlink()
    report = rebuild(race_day)
    assert report.old_file is None
    assert report.batches == len(batches) and report.quarantined == 1
    assert _prints(race_day) == before  # every table: row count and content hash


def test_the_rebuild_keeps_the_acknowledged_alert_acknowledged(race_day):
    acknowledged = read_snapshot(race_day.snapshot_dir, "alerts").filter(status="acknowledged")
    assert acknowledged.height == 1
    race_day.warehouse_path.unlink()
    rebuild(race_day)
    after = read_snapshot(race_day.snapshot_dir, "alerts")
    assert after.filter(status="acknowledged")["alert_id"].to_list() == acknowledged["alert_id"].to_list()
    assert read_snapshot(race_day.snapshot_dir, "alert_actions_rejected").height == 0


def test_rebuilding_over_an_existing_warehouse_sets_the_old_file_aside(race_day):
    before = _prints(race_day)
    report = rebuild(race_day)
    assert report.old_file is not None and report.old_file.exists()
    assert report.old_file.parent == race_day.warehouse_path.parent
    assert _prints(race_day) == before
    assert not list(race_day.warehouse_path.parent.glob(".*.tmp"))  # the scratch file is gone
