"""The only module that opens warehouse.duckdb read-write; SQL migrations live beside it.

`open_writer` takes an exclusive file lock first (a second writer waits, it never
corrupts), then DuckDB's own lock. Readers never open this file: they use the replica or
the Parquet snapshots written by `racecramp.publish`. Statements run through warehouse.sql.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import duckdb


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration, in order."""
    found = []
    for entry in resources.files("racecramp.warehouse").joinpath("migrations").iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text()))
    return sorted(found)


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply pending migrations in order; returns the names applied."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at_utc TIMESTAMPTZ)"
    )
    done = {row[0] for row in con.sql("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for version, name, sql in migrations():
        if version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, datetime.now(UTC)])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


@contextlib.contextmanager
def open_writer(warehouse_path: Path, timeout_s: float = 120.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """The single read-write connection: exclusive across processes, migrated, closed on exit."""
    warehouse_path = Path(warehouse_path)
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = warehouse_path.with_suffix(".writer.lock")
    with open(lock_path, "w") as lock:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another racecramp writer holds {lock_path} for more than {timeout_s:.0f} s")
                time.sleep(0.05)
        con = duckdb.connect(str(warehouse_path))
        try:
            con.execute("SET TimeZone = 'UTC'")
            migrate(con)
            yield con
        finally:
            con.close()
            fcntl.flock(lock, fcntl.LOCK_UN)
