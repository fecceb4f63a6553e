"""racecramp backup / restore: the copy restored into another data dir is identical, table by table."""

from __future__ import annotations

import json

import pytest

from racecramp import landing
from racecramp.config import load_settings
from racecramp.publish.snapshots import read_manifest, read_snapshot
from racecramp.warehouse.backup import MANIFEST, BackupError, backup, restore
from racecramp.warehouse.fingerprint import fingerprints
from racecramp.warehouse.writer import open_writer


def _prints(settings):
    with open_writer(settings.warehouse_path) as con:
        return fingerprints(con)


def test_a_backup_restored_into_another_data_dir_has_every_table_landing_batch_and_snapshot(race_day, tmp_path):
    original = _prints(race_day)
    taken = backup(race_day, tmp_path / "backup")
    assert taken.tables == len(original) and taken.batches == len(landing.list_batches(race_day.landing_dir))
    elsewhere = load_settings(data_dir=tmp_path / "elsewhere")
    restored = restore(elsewhere, tmp_path / "backup")
    assert restored.tables == len(original)
    assert _prints(elsewhere) == original  # every table: row count and content hash
    assert [b.path.name for b in landing.list_batches(elsewhere.landing_dir)] == [
        b.path.name for b in landing.list_batches(race_day.landing_dir)]
    assert read_manifest(elsewhere.snapshot_dir)["counts"] == read_manifest(race_day.snapshot_dir)["counts"]
    assert read_snapshot(elsewhere.snapshot_dir, "alerts").equals(read_snapshot(race_day.snapshot_dir, "alerts"))
    assert elsewhere.replica_path.exists()


def test_the_backup_manifest_records_every_tables_fingerprint(race_day, tmp_path):
    backup(race_day, tmp_path / "backup")
    manifest = json.loads((tmp_path / "backup" / MANIFEST).read_text())
    assert {t: (f["rows"], f["sha256"]) for t, f in manifest["tables"].items()} == {
        t: (f.rows, f.sha256) for t, f in _prints(race_day).items()}


def test_backup_refuses_a_folder_that_is_not_empty(race_day, tmp_path):
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "notes.txt").write_text("mine")
    with pytest.raises(BackupError, match="not empty"):
        backup(race_day, tmp_path / "backup")


def test_restore_refuses_a_data_dir_that_has_a_warehouse(race_day, tmp_path):
    backup(race_day, tmp_path / "backup")
    with pytest.raises(BackupError, match="restore into an empty data dir"):
        restore(race_day, tmp_path / "backup")


def test_restore_refuses_an_interrupted_backup(race_day, tmp_path):
    backup(race_day, tmp_path / "backup")
    (tmp_path / "backup" / MANIFEST).unlink()
    with pytest.raises(BackupError, match="not a complete racecramp backup"):
        restore(load_settings(data_dir=tmp_path / "elsewhere"), tmp_path / "backup")


def test_restore_finds_a_backup_whose_warehouse_was_swapped(race_day, tmp_path):
    backup(race_day, tmp_path / "backup")
    manifest_path = tmp_path / "backup" / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["tables"]["stg_passings"]["rows"] += 1
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(BackupError, match="stg_passings"):
        restore(load_settings(data_dir=tmp_path / "elsewhere"), tmp_path / "backup")
