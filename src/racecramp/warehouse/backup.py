"""`racecramp backup DIR` / `racecramp restore DIR`: a consistent copy of a data dir, taken
while the stack runs, and that copy put into another (empty) data dir.

A backup holds:
- `warehouse.duckdb`, checkpointed and copied under the single writer's lock (no ingest can
  change it meanwhile), with the published `snapshots/` of the same moment;
- `landing/`: every batch file (they are never edited, so copying them one by one after
  the warehouse is consistent: every batch the warehouse has merged is there, and batches
  landed later are merely pending after a restore);
- `intake/idempotency.sqlite` through SQLite's online backup, so a station retrying after
  the restore gets its first answer again;
- `backup.json`, written last: the fingerprint of every warehouse table (warehouse.fingerprint)
  and the batches. A folder without it is not a complete backup.

Every file is written durably (durable.atomic_write). A restore copies everything into a data
dir that has neither a warehouse nor landing batches and checks the warehouse against the
fingerprints before it answers.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from racecramp import landing
from racecramp.config import Settings
from racecramp.durable import atomic_write, atomic_write_text, ensure_dir, is_temporary
from racecramp.errors import RacecrampError
from racecramp.intake.idempotency import index_path
from racecramp.publish.replica import ensure_replica
from racecramp.publish.snapshots import read_manifest
from racecramp.warehouse.fingerprint import TableFingerprint, differences, fingerprints
from racecramp.warehouse.sql import merged_batch_ids
from racecramp.warehouse.writer import connect, writer_lock

MANIFEST = "backup.json"
WAREHOUSE = "warehouse.duckdb"
INDEX = Path("intake") / "idempotency.sqlite"


class BackupError(RacecrampError):
    """A backup cannot be taken or restored; the message names the folder and what to do."""


@dataclass(frozen=True)
class BackupReport:
    directory: Path
    batches: int
    tables: int
    warehouse_bytes: int


def _copy(source: Path, target: Path) -> None:
    atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))


def _copy_sqlite(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy while the intake writes to the index."""
    def write(tmp: Path) -> None:
        tmp.unlink(missing_ok=True)
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(tmp)) as dst:
            src.backup(dst)

    atomic_write(target, write)


def _published_files(snapshot_dir: Path) -> list[Path]:
    if not snapshot_dir.is_dir():
        return []
    return sorted(p for p in snapshot_dir.iterdir() if p.is_file() and not is_temporary(p))


def _copy_batches(landing_dir: Path, target_landing: Path) -> list[landing.Batch]:
    batches = landing.list_batches(landing_dir)
    for batch in batches:
        _copy(batch.path, target_landing / batch.kind / batch.path.name)
    return batches


def backup(settings: Settings, directory: Path) -> BackupReport:
    """Copy the data dir's warehouse, snapshots, landing zone and idempotency index to `directory`."""
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise BackupError(f"backup folder {directory} is not empty; name a new or empty folder")
    ensure_dir(directory)
    with writer_lock(settings.warehouse_path):
        con = connect(settings.warehouse_path)
        try:
            con.execute("CHECKPOINT")
            prints = fingerprints(con)
            merged = merged_batch_ids(con)
        finally:
            con.close()
        _copy(settings.warehouse_path, directory / WAREHOUSE)
        for path in _published_files(settings.snapshot_dir):
            _copy(path, directory / "snapshots" / path.name)
    index = index_path(settings)
    if index.exists():
        _copy_sqlite(index, directory / INDEX)
    batches = _copy_batches(settings.landing_dir, directory / "landing")
    missing = merged - {b.batch_id for b in batches}
    if missing:
        raise BackupError(
            f"backup {directory}: {len(missing)} batch(es) the warehouse merged are not in {settings.landing_dir} "
            f"(e.g. {sorted(missing)[0]}); the landing zone was edited: this backup is not usable"
        )
    manifest = {
        "created_at_utc": datetime.now(UTC).isoformat(),
        "data_dir": str(Path(settings.data_dir).resolve()),
        "batches": len(batches),
        "batches_merged": len(merged),
        "tables": {t: {"rows": f.rows, "sha256": f.sha256} for t, f in prints.items()},
    }
    atomic_write_text(directory / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return BackupReport(directory, len(batches), len(prints), (directory / WAREHOUSE).stat().st_size)


def read_backup_manifest(directory: Path) -> dict:
    path = Path(directory) / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupError(f"{directory} is not a complete racecramp backup: no {MANIFEST} (an interrupted backup?)") from None
    except json.JSONDecodeError as exc:
        raise BackupError(f"{path}: not readable JSON ({exc}); take a new backup") from None


def restore(settings: Settings, directory: Path) -> BackupReport:
    """Put the backup in `directory` into the (empty) configured data dir and check it."""
    directory = Path(directory)
    manifest = read_backup_manifest(directory)
    if Path(settings.warehouse_path).exists() or landing.list_batches(settings.landing_dir):
        raise BackupError(
            f"data dir {settings.data_dir} already has a warehouse or landing batches; restore into an empty "
            "data dir (set RACECRAMP_DATA_DIR or data_dir) with racecramp stopped"
        )
    expected = {t: TableFingerprint(int(v["rows"]), str(v["sha256"])) for t, v in manifest["tables"].items()}
    with writer_lock(settings.warehouse_path):
        batches = _copy_batches(directory / "landing", Path(settings.landing_dir))
        if (directory / INDEX).exists():
            _copy(directory / INDEX, index_path(settings))
        for path in _published_files(directory / "snapshots"):
            _copy(path, Path(settings.snapshot_dir) / path.name)
        _copy(directory / WAREHOUSE, settings.warehouse_path)
        con = connect(settings.warehouse_path)
        try:
            problems = differences(expected, fingerprints(con))
        finally:
            con.close()
    if problems:
        raise BackupError(f"restored warehouse differs from backup {directory}: " + "; ".join(problems))
    published = (read_manifest(settings.snapshot_dir) or {}).get("tables")
    if published:
        ensure_replica(settings, published)
    return BackupReport(directory, len(batches), len(expected), Path(settings.warehouse_path).stat().st_size)
