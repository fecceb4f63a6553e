"""The only module that opens warehouse.duckdb read-write; SQL migrations live beside it.

`open_writer` takes an exclusive file lock first (a second writer waits, it never
corrupts), then DuckDB's own lock. Readers never open this file: they use the replica or
the Parquet snapshots written by `racecramp.publish`.
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
import polars as pl

STAGING_TABLES = {
    "races": "stg_races",
    "course_points": "stg_course_points",
    "participants": "stg_participants",
    "passings": "stg_passings",
    "weather": "stg_weather_observations",
    "reports": "stg_cramp_reports",
    "survey": "stg_survey_responses",
    "alert_actions": "stg_alert_actions",
    "race_closures": "stg_race_closures",
}

ANALYST_TABLES = (
    "races",
    "course_points",
    "participants",
    "passings",
    "weather_observations",
    "cramp_reports",
    "survey_responses",
    "race_closures",
    "quarantine",
)


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


def query(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pl.DataFrame:
    """A query's result as a polars frame.

    duckdb 2.x: `con.execute(...)` keeps an unfinished result that blocks the next
    statement until fully fetched, so queries go through `con.sql` (a relation) instead.
    """
    return con.sql(sql, params=params).pl() if params else con.sql(sql).pl()


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    rows = (con.sql(sql, params=params) if params else con.sql(sql)).fetchall()
    return rows[0][0] if rows else None


def table_frame(con: duckdb.DuckDBPyConnection, table: str, where: str = "", params: list | None = None) -> pl.DataFrame:
    """A whole table (or a filtered part) as a polars frame."""
    sql = f"SELECT * FROM {table}" + (f" WHERE {where}" if where else "")
    return query(con, sql, params)


def _insert(con: duckdb.DuckDBPyConnection, verb: str, table: str, frame: pl.DataFrame) -> int:
    """`verb` (INSERT or INSERT OR REPLACE) the frame's rows into `table` by column name."""
    if frame.height == 0:
        return 0
    cols = ", ".join(f'"{c}"' for c in frame.columns)
    con.register("_insert_frame", frame.to_arrow())
    try:
        con.execute(f"{verb} INTO {table} ({cols}) SELECT {cols} FROM _insert_frame")
    finally:
        con.unregister("_insert_frame")
    return frame.height


def upsert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame, keys: tuple[str, ...]) -> int:
    """Insert rows, replacing any row with the same natural key; returns rows written."""
    return _insert(con, "INSERT OR REPLACE", table, frame.unique(subset=list(keys), keep="last", maintain_order=True))


def append(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> int:
    """Append rows (raw records, quarantine); returns rows written."""
    return _insert(con, "INSERT", table, frame)


def replace_table(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    """Marts are recomputed whole: replace the table with the frame."""
    con.register("_mart_frame", frame.to_arrow())
    try:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _mart_frame")
    finally:
        con.unregister("_mart_frame")
