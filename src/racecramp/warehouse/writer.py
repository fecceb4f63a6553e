"""The only module that opens warehouse.duckdb read-write; SQL migrations live beside it.

`open_writer` takes an exclusive file lock first (`writer_lock`: a second writer waits, it
never corrupts), then DuckDB's own lock. Readers never open this file: they use the replica
or the Parquet snapshots written by `racecramp.publish`. Statements run through
warehouse.sql. A file DuckDB cannot read (truncated, overwritten) is `WarehouseDamaged`,
whose message names `racecramp rebuild` (warehouse.rebuild): the landing zone holds every
acknowledged batch, so the warehouse can always be made again.
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

from racecramp.durable import ensure_dir
from racecramp.errors import RacecrampError


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


class WarehouseDamaged(RacecrampError):
    """warehouse.duckdb cannot be read: truncated, overwritten, or a block fails its checksum."""

    def __init__(self, warehouse_path: Path, problem: str):
        first_line = (problem.strip().splitlines() or [""])[0][:300]
        super().__init__(
            f"{warehouse_path}: the warehouse file is damaged ({first_line}); nothing acknowledged is lost, "
            "the landing zone holds every batch: stop racecramp and run `racecramp rebuild`"
        )
        self.warehouse_path = warehouse_path


def _is_lock_conflict(exc: duckdb.Error) -> bool:
    """DuckDB's own lock (another process has the file open) is no sign of damage."""
    return "Could not set lock" in str(exc)


@contextlib.contextmanager
def writer_lock(warehouse_path: Path, timeout_s: float = 120.0) -> Iterator[Path]:
    """The exclusive file lock every writer (ingest, rebuild, backup) holds; yields the lock's path."""
    warehouse_path = Path(warehouse_path)
    ensure_dir(warehouse_path.parent)
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
        try:
            yield lock_path
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def connect(warehouse_path: Path) -> duckdb.DuckDBPyConnection:
    """Open and migrate a warehouse file; call it holding `writer_lock`. A file DuckDB cannot
    open is WarehouseDamaged (the message names `racecramp rebuild`)."""
    try:
        con = duckdb.connect(str(warehouse_path))
    except duckdb.Error as exc:
        if _is_lock_conflict(exc):
            raise
        raise WarehouseDamaged(Path(warehouse_path), str(exc)) from exc
    try:
        con.execute("SET TimeZone = 'UTC'")
        migrate(con)
    except duckdb.Error as exc:
        con.close()
        raise WarehouseDamaged(Path(warehouse_path), str(exc)) from exc
    except BaseException:
        con.close()
        raise
    return con


@contextlib.contextmanager
def open_writer(warehouse_path: Path, timeout_s: float = 120.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """The single read-write connection: exclusive across processes, migrated, closed on exit."""
    with writer_lock(warehouse_path, timeout_s):
        con = connect(warehouse_path)
        try:
            yield con
        finally:
            con.close()


def check_readable(con: duckdb.DuckDBPyConnection, warehouse_path: Path) -> int:
    """Read every block of every table (DuckDB checks each block's checksum as it reads);
    returns the tables read. A failing read is WarehouseDamaged."""
    tables = [row[0] for row in con.sql("SELECT table_name FROM duckdb_tables() ORDER BY table_name").fetchall()]
    try:
        for table in tables:
            con.sql(f'SELECT count(*), sum(hash(t)) FROM "{table}" AS t').fetchall()
    except duckdb.Error as exc:
        raise WarehouseDamaged(Path(warehouse_path), str(exc)) from exc
    return len(tables)


def check_warehouse(warehouse_path: Path, timeout_s: float = 120.0) -> int:
    """At start-up: open the warehouse (creating it when there is none) and read all of it."""
    with open_writer(warehouse_path, timeout_s) as con:
        return check_readable(con, warehouse_path)
