"""racecramp serve, before it starts anything: temporaries of dead writers go, live ones stay,
and the warehouse is read whole."""

from __future__ import annotations

import os
import subprocess
import sys

from racecramp.orchestration.supervisor import prepare_data_dir


def _dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(child.stdout)


def test_serve_start_removes_temporaries_of_dead_writers_anywhere_in_the_data_dir(settings):
    data_dir = settings.data_dir
    (data_dir / "snapshots").mkdir(parents=True)
    (data_dir / "status").mkdir()
    dead = _dead_pid()
    stale = [data_dir / "snapshots" / f".passings.parquet.{dead}.tmp", data_dir / "status" / f".ingest.json.{dead}.tmp",
             data_dir / ".warehouse.duckdb.tmp"]
    live = data_dir / "snapshots" / f".alerts.parquet.{os.getpid()}.tmp"
    kept = data_dir / "snapshots" / "passings.parquet.tmp"  # not a racecramp temporary (no leading dot)
    for path in [*stale, live, kept]:
        path.write_text("half written")
    removed = prepare_data_dir(settings)
    assert sorted(removed) == sorted(stale)
    assert all(not p.exists() for p in stale) and live.exists() and kept.exists()
    assert settings.warehouse_path.exists()  # the first start creates (and reads) the warehouse
