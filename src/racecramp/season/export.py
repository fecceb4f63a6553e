"""Ingest side of the season dataset: after each publish, rewrite the partitions of the races it touched.

Touched races are read from the raw records of the merged batches (their race_id). A
weather batch with an unlabelled row may concern any race, so it touches every race; a
full republish (no ingest summary) rewrites every race.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb
import polars as pl

from racecramp.marts.heat import with_heat
from racecramp.season.dataset import write_edition
from racecramp.warehouse.sql import query, utc_frame

if TYPE_CHECKING:
    from racecramp.config import Settings
    from racecramp.warehouse.ingest import IngestSummary

# warehouse table per season table (weather_heat is weather_observations + heat columns)
SOURCE_TABLES = {
    "participants": "participants",
    "passings": "passings",
    "course_points": "course_points",
    "cramp_reports": "cramp_reports",
    "survey_responses": "survey_responses",
    "weather_heat": "weather_observations",
}
# landing kinds that do not change any race's frames
KINDS_WITHOUT_RACE = ("alert_actions",)


def touched_race_ids(con: duckdb.DuckDBPyConnection, summary: IngestSummary | None) -> list[str]:
    """race_ids whose season partitions this publish must rewrite (known races only)."""
    known = query(con, "SELECT race_id FROM races")["race_id"].to_list()
    if summary is None:
        return sorted(known)
    batch_ids = [b.batch_id for b in summary.batches if b.kind not in KINDS_WITHOUT_RACE and b.accepted]
    if not batch_ids:
        return []
    found = query(
        con,
        "SELECT DISTINCT kind, json_extract_string(record, '$.race_id') AS race_id FROM raw_records "
        "WHERE batch_id IN (SELECT unnest(?::VARCHAR[]))",
        [batch_ids],
    )
    if found.filter((pl.col("kind") == "weather") & pl.col("race_id").is_null()).height:
        return sorted(known)
    return sorted(set(found["race_id"].drop_nulls().to_list()) & set(known))


def edition_frames(con: duckdb.DuckDBPyConnection, race_id: str) -> dict[str, pl.DataFrame]:
    """One race's season-dataset frames from the warehouse (weather: the rows labelled with the race)."""
    frames = {}
    for table, source in SOURCE_TABLES.items():
        select = "CAST(report_id AS VARCHAR) AS report_id, * EXCLUDE (report_id)" if table == "cramp_reports" else "*"
        frames[table] = utc_frame(query(con, f"SELECT {select} FROM {source} WHERE race_id = ?", [race_id]))
    frames["course_points"] = frames["course_points"].with_columns(pl.col("km").cast(pl.Float64))
    frames["weather_heat"] = with_heat(frames["weather_heat"].lazy()).collect()
    return frames


def write_touched_editions(con: duckdb.DuckDBPyConnection, settings: Settings, summary: IngestSummary | None) -> list[str]:
    """Write/replace the season partitions of every race this publish touched; returns their race_ids."""
    race_ids = touched_race_ids(con, summary)
    for race_id in race_ids:
        write_edition(settings.season_root, race_id, edition_frames(con, race_id), settings.season_storage_options)
    return race_ids
