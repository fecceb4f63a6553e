"""Bulk imports: read a file with its source reader, land it, then run the one ingest.

The CLI (`racecramp import ...`) is a thin layer over these functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import polars as pl

from racecramp import landing
from racecramp.config import Settings
from racecramp.warehouse.ingest import IngestSummary, ingest_pending
from racecramp.warehouse.writer import open_writer


@dataclass
class ImportResult:
    kind: str
    path: Path
    landed_rows: int
    batches: list[landing.Batch]
    summary: IngestSummary | None
    notes: list[str] = field(default_factory=list)


def ingest_now(settings: Settings, progress: Callable[[Any], None] | None = None) -> IngestSummary:
    """Run the ingest on everything pending (what the Prefect ingest flow also calls)."""
    from racecramp.publish.publisher import publish_after_ingest

    with open_writer(settings.warehouse_path) as con:
        summary = ingest_pending(con, settings.landing_dir, progress=progress, rules=settings.window_rules)
        publish_after_ingest(con, settings, summary)
    return summary


def import_race(settings: Settings, path: Path, ingest: bool = True) -> ImportResult:
    from racecramp.sources.race import read_race

    races, course = read_race(path)
    batches = [
        landing.append_frame(settings.landing_dir, "races", races, source=Path(path).name),
        landing.append_frame(settings.landing_dir, "course_points", course, source=Path(path).name),
    ]
    summary = ingest_now(settings) if ingest else None
    return ImportResult("race", Path(path), races.height + course.height, batches, summary)


def import_results(settings: Settings, path: Path, race_id: str, mapping: str = "boston", ingest: bool = True) -> ImportResult:
    from racecramp.sources.mapping import load_mapping
    from racecramp.sources.results import read_results

    read = read_results(Path(path), load_mapping(mapping), race_id)
    batch = landing.append_frame(settings.landing_dir, "results", read.rows, source=Path(path).name)
    notes = []
    if read.ignored_columns:
        notes.append(f"ignored columns not in the mapping (not stored): {', '.join(read.ignored_columns)}")
    if read.dropped_columns:
        notes.append(f"dropped at the reader (personal or unused data): {', '.join(read.dropped_columns)}")
    summary = ingest_now(settings) if ingest else None
    return ImportResult("results", Path(path), read.rows.height, [batch], summary, notes)


def import_weather(settings: Settings, path: Path, race_id: str | None, fmt: str = "auto", ingest: bool = True) -> ImportResult:
    from racecramp.sources import weather as w

    path = Path(path)
    fmt = _weather_format(path) if fmt == "auto" else fmt
    if fmt == "visualcrossing-json":
        frame = w.read_visualcrossing_json(path)
    elif fmt == "visualcrossing-csv":
        frame = w.read_visualcrossing_csv(path)
    elif fmt == "iem-asos":
        frame = w.read_iem_asos_csv(path)
    else:
        raise ValueError(f"weather format {fmt!r}: expected visualcrossing-json, visualcrossing-csv or iem-asos")
    if race_id is not None and "race_id" in frame.columns:
        matching = frame.filter(pl.col("race_id") == race_id)
        frame = matching if matching.height else frame.with_columns(pl.lit(race_id).alias("race_id"))
    batch = landing.append_frame(settings.landing_dir, "weather", frame, source=path.name)
    summary = ingest_now(settings) if ingest else None
    return ImportResult("weather", path, frame.height, [batch], summary, [f"format: {fmt}"])


def _weather_format(path: Path) -> str:
    if path.suffix == ".json":
        return "visualcrossing-json"
    with open(path, encoding="utf-8") as fh:
        head = "".join(fh.readline() for _ in range(10))
    if "station" in head and "valid" in head:
        return "iem-asos"
    if "temp_f" in head or "hour_local" in head:
        return "visualcrossing-csv"
    raise ValueError(f"{path.name}: cannot tell the weather format from its header; pass --format")


def import_tabular(settings: Settings, path: Path, race_id: str, mapping: str, ingest: bool = True) -> ImportResult:
    """Cramp-report logs and survey exports through a TOML mapping."""
    from racecramp.sources.tabular import load_tabular_mapping, read_mapped_csv

    spec = load_tabular_mapping(mapping)
    records, ignored = read_mapped_csv(Path(path), spec, race_id)
    if not records:
        raise ValueError(f"{Path(path).name}: no data rows")
    batch = landing.append_records(settings.landing_dir, spec.kind, records, source=Path(path).name)
    summary = ingest_now(settings) if ingest else None
    notes = [f"ignored columns (not stored): {', '.join(ignored)}"] if ignored else []
    return ImportResult(spec.kind, Path(path), len(records), [batch], summary, notes)
