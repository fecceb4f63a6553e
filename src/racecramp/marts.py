"""Every mart, computed from the warehouse by the pure transforms and stored back.

`racecramp marts` and the ingest flow both call `compute_and_store_marts`, so an analyst
rebuilding after a bulk import gets exactly what the live pipeline publishes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb
import polars as pl

from racecramp.warehouse import query, replace_table

if TYPE_CHECKING:
    from racecramp.config import Settings


def load_inputs(con: duckdb.DuckDBPyConnection, race_id: str | None = None) -> dict[str, pl.DataFrame]:
    """The analyst tables the transforms read, optionally for one race."""
    frames = {}
    for table in ("races", "course_points", "participants", "passings", "cramp_reports", "survey_responses", "weather_observations"):
        if race_id is None:
            frames[table] = _utc(query(con, f"SELECT * FROM {table}"))
        elif table == "weather_observations":  # weather rows may lack race_id: keep the race's and unlabelled ones
            frames[table] = _utc(query(con, f"SELECT * FROM {table} WHERE race_id = ? OR race_id IS NULL", [race_id]))
        else:
            frames[table] = _utc(query(con, f"SELECT * FROM {table} WHERE race_id = ?", [race_id]))
    return frames


def _utc(frame: pl.DataFrame) -> pl.DataFrame:
    """DuckDB hands TIMESTAMPTZ back in the session zone; make every timestamp UTC/us."""
    fixes = [
        pl.col(name).dt.convert_time_zone("UTC").dt.cast_time_unit("us")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    ]
    if "report_id" in frame.columns and frame.schema["report_id"] != pl.String:
        fixes.append(pl.col("report_id").cast(pl.String))
    return frame.with_columns(fixes) if fixes else frame


def compute_marts(inputs: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """All marts from the input frames (pure: no I/O)."""
    return {}


def compute_and_store_marts(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, pl.DataFrame]:
    marts = compute_marts(load_inputs(con))
    for name, frame in marts.items():
        replace_table(con, name, frame)
    return marts
