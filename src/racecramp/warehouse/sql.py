"""Every SQL statement run against the warehouse, as small functions over a connection.

duckdb 2.x: `con.execute(...)` keeps an unfinished result that blocks the next statement
until fully fetched, so queries go through `con.sql` (a relation) and statements that return
nothing through `con.execute`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

UTC_US = pl.Datetime("us", "UTC")


def query(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pl.DataFrame:
    """A query's result as a polars frame."""
    return con.sql(sql, params=params).pl() if params else con.sql(sql).pl()


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    rows = (con.sql(sql, params=params) if params else con.sql(sql)).fetchall()
    return rows[0][0] if rows else None


def utc_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """DuckDB hands TIMESTAMPTZ back in the session zone and UUIDs as objects; normalise."""
    fixes = [
        pl.col(name).dt.convert_time_zone("UTC").dt.cast_time_unit("us")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    ]
    fixes += [pl.col(name).cast(pl.String) for name, dtype in frame.schema.items() if dtype == pl.Object or name == "report_id"]
    return frame.with_columns(fixes) if fixes else frame


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return scalar(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]) > 0


def read_table(con: duckdb.DuckDBPyConnection, table: str, race_id: str | None = None,
               columns: tuple[str, ...] | None = None, unlabelled_too: bool = False) -> pl.DataFrame:
    """A table or view (of one race, when given; `unlabelled_too` keeps rows with no race_id)."""
    select = ", ".join(f'"{c}"' for c in columns) if columns else "*"
    if race_id is None:
        return utc_frame(query(con, f"SELECT {select} FROM {table}"))
    where = "race_id = ? OR race_id IS NULL" if unlabelled_too else "race_id = ?"
    return utc_frame(query(con, f"SELECT {select} FROM {table} WHERE {where}", [race_id]))


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
    """Marts are stored whole: replace the table with the frame."""
    con.register("_mart_frame", frame.to_arrow())
    try:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _mart_frame")
    finally:
        con.unregister("_mart_frame")


def export_parquet(con: duckdb.DuckDBPyConnection, table: str, path: Path) -> None:
    """COPY a table to a Parquet file; UUID and JSON become text so every reader sees strings."""
    columns = con.sql(f"DESCRIBE {table}").fetchall()
    select = ", ".join(
        f'CAST("{name}" AS VARCHAR) AS "{name}"' if dtype in ("UUID", "JSON") else f'"{name}"' for name, dtype, *_ in columns
    )
    con.execute(f"COPY (SELECT {select} FROM {table}) TO '{path}' (FORMAT parquet)")


def describe(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str, bool]]:
    """(column, DuckDB type, nullable) of a table or view, in order."""
    return [(name, dtype, null == "YES") for name, dtype, null, *_ in con.sql(f"DESCRIBE {table}").fetchall()]


# --------------------------------------------------------------------------- the landing log


def merged_batch_ids(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {row[0] for row in con.sql("SELECT batch_id FROM landing_log").fetchall()}


def log_batch(con: duckdb.DuckDBPyConnection, batch_id: str, kind: str, path: str, source: str, landed_at: datetime,
              ingested_at: datetime, rows: int, accepted: int, quarantined: int) -> None:
    con.execute("INSERT INTO landing_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [batch_id, kind, path, source, landed_at, ingested_at, rows, accepted, quarantined])


def ingest_progress(con: duckdb.DuckDBPyConnection) -> tuple[datetime | None, int]:
    """(last ingest time, batches merged)."""
    return con.sql("SELECT max(ingested_at_utc), count(*) FROM landing_log").fetchall()[0]


def row_counts(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...]) -> dict[str, int]:
    return {t: scalar(con, f"SELECT count(*) FROM {t}") for t in tables}


def landed_records(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """When each merged batch landed and how many records it held (quarantine-spike alerts)."""
    return utc_frame(query(con, "SELECT landed_at_utc, rows AS record_count FROM landing_log"))


def quarantine_events(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return utc_frame(query(con, 'SELECT landed_at_utc, source, "check", message, batch_id FROM quarantine'))
