"""Bulk imports: read a file with its source reader, land it, then run the one ingest.

Results, reports and surveys name their race: a race that is not declared (no race file
imported, merged or still pending) is refused before anything lands, with the command that
declares it. A dry run reads and validates with the same pure validation as the ingest and
lands nothing. The CLI (`racecramp import ...`) is a thin layer over these functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Callable

import polars as pl

from racecramp import landing
from racecramp.config import Settings
from racecramp.errors import RacecrampError
from racecramp.validation.context import ValidationContext
from racecramp.validation.validate import BatchValidation, validate_batch
from racecramp.warehouse.ingest import CONTEXT_KINDS, IngestSummary, ingest_pending, load_context
from racecramp.warehouse.sql import merged_batch_ids
from racecramp.warehouse.writer import open_writer

DRY_RUN_MESSAGES = 5  # first quarantine reasons a dry run shows


class RaceNotDeclared(RacecrampError, LookupError):
    """A file names a race that no imported race file declares; the message says how to declare it."""


class NothingToImport(RacecrampError, ValueError):
    """A file has no data rows."""


class WeatherFormatError(RacecrampError, ValueError):
    """A weather file's format is unknown or cannot be told from its header."""


@dataclass(frozen=True)
class DryRun:
    """What an import would do: rows read, accepted, quarantined, the top checks and the first messages."""

    rows: int
    accepted: int
    quarantined: int
    reasons: list[tuple[str, int]]
    messages: list[str]


@dataclass
class ImportResult:
    kind: str
    path: Path
    landed_rows: int
    batches: list[landing.Batch]
    summary: IngestSummary | None
    notes: list[str] = field(default_factory=list)
    dry_run: DryRun | None = None


def ingest_now(settings: Settings, progress: Callable[[Any], None] | None = None) -> IngestSummary:
    """Run the ingest on everything pending (what the Prefect ingest flow also calls)."""
    from racecramp.publish.publisher import publish_after_ingest

    with open_writer(settings.warehouse_path) as con:
        summary = ingest_pending(con, settings.landing_dir, progress=progress, rules=settings.window_rules)
        publish_after_ingest(con, settings, summary)
    return summary


def declared_context(settings: Settings) -> ValidationContext:
    """The races and course points the warehouse knows, plus those landed and not merged yet
    (an import of a race file followed by its results before the ingest runs)."""
    with open_writer(settings.warehouse_path) as con:
        context = load_context(con, settings.window_rules)
        done = merged_batch_ids(con)
    pending = landing.list_batches(settings.landing_dir, kinds=CONTEXT_KINDS, skip=done)
    if not pending:
        return context
    frames: dict[str, list[pl.DataFrame]] = {"races": [context.races], "course_points": [context.course_points]}
    for batch in pending:
        records, _source, _landed = landing.read_batch(batch)
        frame = records if isinstance(records, pl.DataFrame) else pl.DataFrame(records)
        frames[batch.kind].append(frame.select([c for c in frames[batch.kind][0].columns if c in frame.columns]))
    races = pl.concat(frames["races"], how="diagonal_relaxed").unique("race_id", keep="last", maintain_order=True)
    points = pl.concat(frames["course_points"], how="diagonal_relaxed").unique(["race_id", "point_id"], keep="last", maintain_order=True)
    return ValidationContext.from_frames(races, points, settings.window_rules)


def require_declared(context: ValidationContext, race_id: str, path: Path) -> None:
    """Refuse a file for a race no race file declares, naming the command that declares one."""
    if race_id in context.distance_km:
        return
    known = ", ".join(context.race_ids()) or "none yet"
    raise RaceNotDeclared(
        f"{Path(path).name}: --race {race_id!r} is not declared (declared races: {known}); nothing was landed. "
        f"Declare it first with `racecramp import race RACE.toml` (make the race file with `racecramp race new`)"
    )


def dry_run_of(kind: str, records, context: ValidationContext) -> DryRun:
    """Validate without landing: the counts and the first reasons the ingest would give."""
    checked: BatchValidation = validate_batch(kind, records, context, datetime.now(UTC))  # as if it landed now
    failures = checked.failures
    bad_rows = failures["_row"].n_unique() if failures.height else 0
    accepted_kind = "participants" if kind == "results" else kind
    reasons = failures.group_by("check").agg(pl.col("_row").n_unique().alias("n")).sort("n", "check", descending=[True, False])
    first = failures.unique("_row", keep="first", maintain_order=True).head(DRY_RUN_MESSAGES)
    messages = [f"{where}: {message}" if where else f"record {row + 1}: {message}"
                for row, where, message in first.select("_row", "_where", "message").iter_rows()]
    return DryRun(checked.rows, checked.accepted[accepted_kind].height, bad_rows, [(str(c), int(n)) for c, n in reasons.rows()], messages)


def import_race(settings: Settings, path: Path, ingest: bool = True) -> ImportResult:
    """A race file: its races row, course points and, when it names one, its course track."""
    from racecramp.sources.race import read_race, read_race_track

    races, course = read_race(path)
    track = read_race_track(path)
    source = Path(path).name
    batches = [
        landing.append_frame(settings.landing_dir, "races", races, source=source),
        landing.append_frame(settings.landing_dir, "course_points", course, source=source),
    ]
    notes = []
    if track is not None:
        batches.append(landing.append_frame(settings.landing_dir, "course_track", track, source=source))
        notes.append(f"course track: {track.height} points (the Course page's map)")
    summary = ingest_now(settings) if ingest else None
    landed = races.height + course.height + (track.height if track is not None else 0)
    return ImportResult("race", Path(path), landed, batches, summary, notes)


def import_results(settings: Settings, path: Path, race_id: str, mapping: str = "boston", ingest: bool = True,
                   dry_run: bool = False) -> ImportResult:
    """A results file through its mapping; refused when the race is not declared; dry_run lands nothing."""
    from racecramp.sources.mapping import load_mapping
    from racecramp.sources.results import read_results

    layout = load_mapping(mapping)
    context = declared_context(settings)
    require_declared(context, race_id, path)
    race_date = context.races.filter(pl.col("race_id") == race_id)["date"][0]
    read = read_results(Path(path), layout, race_id, race_date=race_date)
    if read.rows.height == 0:
        raise NothingToImport(f"{Path(path).name}: no data rows under the header, expected one row per runner")
    notes = []
    if read.ignored_columns:
        notes.append(f"ignored columns not in the mapping (not stored): {', '.join(read.ignored_columns)}")
    if read.dropped_columns:
        notes.append(f"dropped at the reader (personal or unused data): {', '.join(read.dropped_columns)}")
    if dry_run:
        return ImportResult("results", Path(path), 0, [], None, notes, dry_run_of("results", read.rows, context))
    batch = landing.append_frame(settings.landing_dir, "results", read.rows, source=Path(path).name)
    summary = ingest_now(settings) if ingest else None
    return ImportResult("results", Path(path), read.rows.height, [batch], summary, notes)


def import_weather(settings: Settings, path: Path, race_id: str | None, fmt: str = "auto", ingest: bool = True) -> ImportResult:
    from racecramp.sources import weather as w

    path = Path(path)
    if race_id is not None:
        require_declared(declared_context(settings), race_id, path)
    fmt = _weather_format(path) if fmt == "auto" else fmt
    readers = {
        "visualcrossing-json": lambda: w.read_visualcrossing_json(path),
        "visualcrossing-csv": lambda: w.read_visualcrossing_csv(path),
        "iem-asos": lambda: w.read_iem_asos_csv(path),
    }
    if fmt not in readers:
        raise WeatherFormatError(f"{path.name}: --format {fmt!r}, expected auto, {', '.join(readers)}")
    try:
        frame = readers[fmt]()
    except (ValueError, FileNotFoundError) as err:  # the readers' word on a file that does not fit its format
        raise WeatherFormatError(f"{path.name} as {fmt}: {err}") from err
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
    raise WeatherFormatError(f"{path.name}: cannot tell the weather format from its header, expected Visual Crossing or IEM ASOS columns; pass --format")


def import_tabular(settings: Settings, path: Path, race_id: str, mapping: str, ingest: bool = True,
                   dry_run: bool = False) -> ImportResult:
    """Cramp-report logs and survey exports through a TOML mapping; refused when the race is not declared."""
    from racecramp.sources.tabular import load_tabular_mapping, read_mapped_csv

    context = declared_context(settings)
    require_declared(context, race_id, path)
    spec = load_tabular_mapping(mapping)
    records, ignored = read_mapped_csv(Path(path), spec, race_id)
    if not records:
        raise NothingToImport(f"{Path(path).name}: no data rows under the header, expected one row per {spec.kind} record")
    notes = [f"ignored columns (not stored): {', '.join(ignored)}"] if ignored else []
    if dry_run:
        return ImportResult(spec.kind, Path(path), 0, [], None, notes, dry_run_of(spec.kind, records, context))
    batch = landing.append_records(settings.landing_dir, spec.kind, records, source=Path(path).name)
    summary = ingest_now(settings) if ingest else None
    return ImportResult(spec.kind, Path(path), len(records), [batch], summary, notes)
