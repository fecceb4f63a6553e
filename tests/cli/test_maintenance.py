"""racecramp rebuild, backup and restore on the command line: what they did in a few lines, a
refusal in one."""

from __future__ import annotations

from typer.testing import CliRunner

from racecramp import landing
from racecramp.cli import app


def _use(monkeypatch, tmp_path, data_dir) -> None:
    monkeypatch.setenv("RACECRAMP_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("RACECRAMP_DATA_DIR", str(data_dir))


def test_backup_then_restore_into_another_data_dir(race_day, tmp_path, monkeypatch):
    _use(monkeypatch, tmp_path, race_day.data_dir)
    taken = CliRunner().invoke(app, ["backup", str(tmp_path / "backup")])
    assert taken.exit_code == 0, taken.output
    assert f"{len(landing.list_batches(race_day.landing_dir))} landing batches" in taken.output
    _use(monkeypatch, tmp_path, tmp_path / "other")
    restored = CliRunner().invoke(app, ["restore", str(tmp_path / "backup")])
    assert restored.exit_code == 0, restored.output
    assert "tables identical to the backup" in restored.output
    again = CliRunner().invoke(app, ["restore", str(tmp_path / "backup")])
    assert again.exit_code == 1
    assert [line for line in again.stderr.splitlines() if line.strip()][0].startswith("error: data dir")
    assert "Traceback" not in again.output + again.stderr


def test_rebuild_says_what_it_merged_and_where_the_old_file_went(race_day, tmp_path, monkeypatch):
    _use(monkeypatch, tmp_path, race_day.data_dir)
    result = CliRunner().invoke(app, ["rebuild"])
    assert result.exit_code == 0, result.output
    assert f"{len(landing.list_batches(race_day.landing_dir))} batches merged" in result.output and "1 quarantined" in result.output
    assert "carried over from the published snapshot" in result.output
    assert "warehouse.before-rebuild-" in result.output
