"""replica.duckdb: one view per published table over its Parquet snapshot, for `racecramp sql`.

The views point at the snapshot files, so SQL users see every new snapshot without the
replica being rewritten; it is rebuilt only when a table is added.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from racecramp.durable import atomic_write
from racecramp.publish.snapshots import snapshot_path

if TYPE_CHECKING:
    from racecramp.config import Settings


def replica_views(replica: Path) -> set[str] | None:
    """The views the replica has; None when a reader holds it open right now."""
    if not replica.exists():
        return set()
    try:
        with duckdb.connect(str(replica), read_only=True) as con:
            return {r[0] for r in con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    except duckdb.IOException:
        return None


def ensure_replica(settings: Settings, tables: list[str]) -> Path:
    """Make replica.duckdb hold a view for each of `tables` (unchanged when it already does)."""
    replica = Path(settings.replica_path)
    existing = replica_views(replica)
    if existing is None or set(tables) <= existing:
        return replica  # a reader has it open (its views already point at the files), or nothing to add

    def write(tmp: Path) -> None:
        tmp.unlink(missing_ok=True)
        with duckdb.connect(str(tmp)) as con:
            for table in tables:
                parquet = snapshot_path(settings.snapshot_dir, table).resolve()
                con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{parquet}')")

    return atomic_write(replica, write)
