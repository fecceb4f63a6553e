"""The marts' reads and writes: their input tables out of the warehouse, their results back in.

The mart engine (marts.build) is pure; this module is its I/O, so the engine is tested on
frames and the warehouse on SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import polars as pl

from racecramp.landing.kinds import ANALYST_TABLES, KINDS
from racecramp.marts.registry import ALERT_ACTIONS, LANDING_LOG, MARTS, PREVIOUS_ALERTS, QUARANTINE
from racecramp.warehouse.sql import landed_records, quarantine_events, read_table, replace_table, table_exists


def load_inputs(con: duckdb.DuckDBPyConnection, race_id: str | None = None) -> dict[str, pl.DataFrame]:
    """Every table a mart reads (of one race, when given; weather rows without a race kept),
    and the state marts carry over: the previous alerts, alert actions, quarantine, landing log."""
    frames = {
        table: read_table(con, table, race_id, unlabelled_too=table == "weather_observations")
        for table in ANALYST_TABLES
        if table != QUARANTINE
    }
    frames.update({name: load() for name, load in _state_loaders(con).items()})
    previous = stored_mart(con, "alerts")
    frames[PREVIOUS_ALERTS] = previous if previous is not None else MARTS["alerts"].empty()
    return frames


def _state_loaders(con: duckdb.DuckDBPyConnection) -> dict:
    return {
        QUARANTINE: lambda: quarantine_events(con),
        LANDING_LOG: lambda: landed_records(con),
        ALERT_ACTIONS: lambda: read_table(con, KINDS["alert_actions"].staging_table),
    }


def reload_inputs(con: duckdb.DuckDBPyConnection, frames: dict[str, pl.DataFrame], changed: set[str] | None) -> dict[str, pl.DataFrame]:
    """The live cycle's inputs: `frames` (as last loaded) with the tables in `changed` read again
    (all of them when `changed` is None or nothing was loaded yet). Previous alerts are not
    read here: the live cycle carries its own latest alerts forward."""
    if changed is None or not frames:
        return load_inputs(con)
    loaders = _state_loaders(con)
    out = dict(frames)
    for name in changed:
        if name in loaders:
            out[name] = loaders[name]()
        elif name in ANALYST_TABLES:
            out[name] = read_table(con, name, unlabelled_too=name == "weather_observations")
    return out


def stored_mart(con: duckdb.DuckDBPyConnection, name: str) -> pl.DataFrame | None:
    """A mart as the last publish stored it; None before the first."""
    return read_table(con, name) if table_exists(con, name) else None


def store_marts(con: duckdb.DuckDBPyConnection, marts: dict[str, pl.DataFrame]) -> None:
    """Replace each published mart's table with its new frame."""
    for name, frame in marts.items():
        if MARTS[name].published:
            replace_table(con, name, frame)


def is_young(frame: pl.DataFrame | None, max_age_s: float, now_utc: datetime | None = None) -> bool:
    """A stored mart with rows whose computed_at_utc is less than max_age_s old."""
    if frame is None or frame.height == 0 or "computed_at_utc" not in frame.columns or max_age_s <= 0:
        return False
    computed = frame["computed_at_utc"].max()
    return computed is not None and ((now_utc or datetime.now(UTC)) - computed).total_seconds() < max_age_s
