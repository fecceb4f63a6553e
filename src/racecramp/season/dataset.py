"""The season dataset: every race edition's frames as hive-partitioned Parquet, one partition per edition.

Layout under the root (a local folder or any fsspec URL):

    <root>/<table>/series=<series>/edition=<edition>/part-0.parquet

for table in SEASON_TABLES. The partition keys come from the race_id (race_partition):
the text after the last hyphen is the edition, the text before it the series, so
`boston-2017` is series=boston/edition=2017 and `new-york-2019` is series=new-york/
edition=2019. A race_id without a hyphen (`demo`) is series=demo/edition=_ (race ids are
slugs of [a-z0-9-], so `_` never collides with a real edition). The files keep the
warehouse columns, race_id included, so a partition read alone is a warehouse-shaped frame.

Writing replaces one edition's partition of one table: the new file is written beside the
old under a temporary name and moved over it (a rename on a local disk; a copy+delete on
object stores, where a reader may briefly see the old file, never a partial one).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Any, Iterable

import fsspec
import polars as pl
from fsspec.implementations.local import LocalFileSystem

# What the pooled analysis reads per edition (and what publish writes).
SEASON_TABLES = ("participants", "passings", "course_points", "cramp_reports", "survey_responses", "weather_heat")
PART_FILE = "part-0.parquet"
NO_EDITION = "_"
HIVE_SCHEMA = {"series": pl.String, "edition": pl.String}


@dataclass(frozen=True)
class Partition:
    """One edition's place in the dataset."""

    race_id: str
    series: str
    edition: str

    @property
    def path(self) -> str:
        return f"series={self.series}/edition={self.edition}"


def race_partition(race_id: str) -> Partition:
    """series/edition of a race_id: `boston-2017` -> boston / 2017 (see the module docstring)."""
    if not race_id or race_id != race_id.strip() or "/" in race_id or "=" in race_id:
        raise ValueError(f"race_id={race_id!r}: expected a slug such as 'boston-2017' (no '/', '=' or spaces)")
    series, hyphen, edition = race_id.rpartition("-")
    if not hyphen:
        return Partition(race_id, race_id, NO_EDITION)
    if not series or not edition:
        raise ValueError(f"race_id={race_id!r}: expected '<series>-<edition>' with both parts non-empty, such as 'boston-2017'")
    return Partition(race_id, series, edition)


def _fs(root: str, storage_options: dict[str, Any] | None) -> tuple[fsspec.AbstractFileSystem, str]:
    fs, path = fsspec.core.url_to_fs(str(root), **(storage_options or {}))
    return fs, path.rstrip("/")


def partition_file(root: str, table: str, race_id: str) -> str:
    """The file (URL or path) holding one edition of one table."""
    return f"{str(root).rstrip('/')}/{table}/{race_partition(race_id).path}/{PART_FILE}"


def write_edition(
    root: str, race_id: str, frames: dict[str, pl.DataFrame], storage_options: dict[str, Any] | None = None
) -> list[str]:
    """Write/replace the partitions of one edition, one file per table given; returns the files written.

    Every frame must hold only rows of race_id (a frame with another race's rows is refused:
    it would end up in the wrong partition).
    """
    part = race_partition(race_id)
    unknown = sorted(set(frames) - set(SEASON_TABLES))
    if unknown:
        raise ValueError(f"season dataset: table {unknown[0]!r} is not one of {', '.join(SEASON_TABLES)}")
    fs, base = _fs(root, storage_options)
    written = []
    for table, frame in frames.items():
        if "race_id" not in frame.columns:
            raise ValueError(f"season dataset: {table} of {race_id} has no column 'race_id'")
        others = frame.filter(pl.col("race_id").is_null() | (pl.col("race_id") != race_id))
        if others.height:
            raise ValueError(
                f"season dataset: {table} for partition {race_id} has {others.height} rows of race_id="
                f"{others['race_id'][0]!r}; expected only {race_id!r}"
            )
        folder = f"{base}/{table}/{part.path}"
        fs.makedirs(folder, exist_ok=True)
        target = f"{folder}/{PART_FILE}"
        tmp = f"{folder}/.{PART_FILE}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            with fs.open(tmp, "wb") as fh:
                frame.write_parquet(fh, statistics=True)
            if isinstance(fs, LocalFileSystem):
                os.replace(tmp, target)
            else:
                fs.mv(tmp, target)
        except BaseException:
            if fs.exists(tmp):
                fs.rm(tmp)
            raise
        written.append(target)
    return written


def read_edition(
    root: str, race_id: str, tables: Iterable[str] = SEASON_TABLES, storage_options: dict[str, Any] | None = None
) -> dict[str, pl.DataFrame]:
    """One edition's frames (only `tables`), read from its partitions alone; a missing table raises."""
    fs, base = _fs(root, storage_options)
    part = race_partition(race_id)
    frames = {}
    for table in tables:
        path = f"{base}/{table}/{part.path}/{PART_FILE}"
        if not fs.exists(path):
            raise FileNotFoundError(f"season dataset {root}: no {table} partition for {race_id} (expected {path})")
        with fs.open(path, "rb") as fh:
            frames[table] = pl.read_parquet(fh)
    return frames


def list_editions(root: str, storage_options: dict[str, Any] | None = None, table: str = "participants") -> list[str]:
    """race_ids of every edition in the dataset (those with a `table` partition), sorted."""
    fs, base = _fs(root, storage_options)
    if not fs.exists(f"{base}/{table}"):
        return []
    found = []
    for path in fs.glob(f"{base}/{table}/series=*/edition=*/{PART_FILE}"):
        series = path.split("series=", 1)[1].split("/", 1)[0]
        edition = path.split("edition=", 1)[1].split("/", 1)[0]
        found.append(series if edition == NO_EDITION else f"{series}-{edition}")
    return sorted(found)


def scan_table(root: str, table: str, storage_options: dict[str, Any] | None = None) -> pl.LazyFrame:
    """A whole table over every edition, with the series and edition hive columns (lazy)."""
    return pl.scan_parquet(
        f"{str(root).rstrip('/')}/{table}/",
        hive_partitioning=True,
        hive_schema=HIVE_SCHEMA,
        storage_options=storage_options or None,
    )
