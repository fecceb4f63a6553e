"""A damaged warehouse file is found at start with one line naming racecramp rebuild, and the
rebuild gives back everything acknowledged (the landing zone holds it)."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from racecramp.cli.main import app
from racecramp.errors import RacecrampError
from racecramp.orchestration.supervisor import prepare_data_dir
from racecramp.warehouse.fingerprint import fingerprints
from racecramp.warehouse.rebuild import rebuild
from racecramp.warehouse.writer import WarehouseDamaged, open_writer


def _prints(settings):
    with open_writer(settings.warehouse_path) as con:
        return fingerprints(con)


def _truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _garbage(data: bytes) -> bytes:
    return os.urandom(len(data))


def _garbage_inside(data: bytes) -> bytes:
    """The header and catalog intact, data blocks overwritten: only reading them shows it."""
    middle = len(data) // 2
    return data[:middle] + os.urandom(len(data) - middle)


@pytest.mark.parametrize("damage", [_truncate, _garbage, _garbage_inside], ids=["truncated", "garbage", "garbage-inside"])
def test_a_damaged_warehouse_is_found_at_start_and_rebuilt_with_nothing_lost(race_day, damage):
    before = _prints(race_day)
    path = race_day.warehouse_path
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(WarehouseDamaged, match="racecramp rebuild") as caught:
        prepare_data_dir(race_day)
    assert isinstance(caught.value, RacecrampError)
    assert str(path) in str(caught.value) and "landing zone holds every batch" in str(caught.value)
    rebuild(race_day)
    assert _prints(race_day) == before


def test_racecramp_serve_on_a_damaged_warehouse_prints_one_line_naming_rebuild(race_day, monkeypatch):
    race_day.warehouse_path.write_bytes(_garbage(race_day.warehouse_path.read_bytes()))
    monkeypatch.setenv("RACECRAMP_DATA_DIR", str(race_day.data_dir))
    result = CliRunner().invoke(app, ["serve", "--no-dashboard"])
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error: ") and "racecramp rebuild" in result.stderr
    assert "Traceback" not in result.output + result.stderr
