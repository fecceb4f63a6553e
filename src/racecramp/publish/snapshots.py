"""Snapshots: the Parquet files every reader uses, and the one reader of them.

Readers never open warehouse.duckdb (while the writer holds it, DuckDB refuses any other
process, even read-only). After each ingest the writer publishes the analyst tables and the
marts as `snapshots/<table>.parquet` (durable.atomic_write: a reader sees the old file or the
new one, never half of one) and `_manifest.json` says what was published when.

In the live cycle a snapshot whose content did not change is not rewritten
(`write_if_changed`: the new file is compared by hash with the published one first), so
readers' caches stay warm and an unchanged table costs no rename or fsync.

`load_snapshot` is the one reader: cached on the file's identity (inode, mtime, size), so a
republished file is read again on the next call and an unchanged one costs a `stat`.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Callable

import polars as pl

from racecramp.durable import atomic_write, atomic_write_text, ensure_dir

MANIFEST = "_manifest.json"
UTC_US = pl.Datetime("us", "UTC")


def snapshot_path(snapshot_dir: Path, table: str) -> Path:
    return Path(snapshot_dir) / f"{table}.parquet"


def write_snapshot(frame: pl.DataFrame, path: Path) -> Path:
    """Write a Parquet snapshot atomically (readers see old or new, never partial)."""
    return atomic_write(path, lambda tmp: frame.write_parquet(tmp, statistics=True))


def file_digest(path: Path) -> str:
    """blake2b of a file's bytes."""
    digest = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


_digests: dict[str, tuple[tuple[int, int, int], str]] = {}  # path -> (identity, digest) of the published file


def _published_digest(path: Path) -> str | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    known = _digests.get(str(path))
    if known is not None and known[0] == key:
        return known[1]
    digest = file_digest(path)
    _digests[str(path)] = (key, digest)
    return digest


def write_if_changed(path: Path, write: Callable[[Path], object]) -> bool:
    """Fill a temporary file with `write(tmp)`; replace `path` with it (durably, atomically) only
    when its content differs from the published file's. Returns whether `path` was replaced."""
    path = Path(path)
    written: dict[str, str] = {}

    def same_as_published(tmp: Path) -> bool:
        written["digest"] = file_digest(tmp)
        return written["digest"] == _published_digest(path)

    if atomic_write(path, write, keep_old=same_as_published) is None:
        return False
    stat = path.stat()
    _digests[str(path)] = ((stat.st_ino, stat.st_mtime_ns, stat.st_size), written["digest"])
    return True


def write_snapshot_if_changed(frame: pl.DataFrame, path: Path) -> bool:
    """write_snapshot, skipped when the published file already holds exactly this content."""
    ensure_dir(Path(path).parent)
    return write_if_changed(path, lambda tmp: frame.write_parquet(tmp, statistics=True))


# --------------------------------------------------------------------------- reading

_cache: dict[tuple[str, tuple[str, ...] | None], tuple[tuple[int, int, int], pl.DataFrame]] = {}
_cache_lock = threading.Lock()


def _uuid_text(column: str) -> pl.Expr:
    """16-byte UUIDs (DuckDB writes UUID columns to Parquet as binary) as canonical text."""
    h = pl.col(column).bin.encode("hex")
    parts = [h.str.slice(0, 8), h.str.slice(8, 4), h.str.slice(12, 4), h.str.slice(16, 4), h.str.slice(20, 12)]
    return pl.concat_str(parts, separator="-").alias(column)


def normalise_snapshot(frame: pl.DataFrame) -> pl.DataFrame:
    """Snapshot columns as the transforms expect them: UUID and JSON as text, times UTC/us."""
    fixes = []
    for name, dtype in frame.schema.items():
        if name == "report_id" and dtype == pl.Binary:
            fixes.append(_uuid_text(name))
        elif dtype == pl.Binary:  # DuckDB JSON columns (quarantine.record)
            fixes.append(pl.col(name).cast(pl.String))
        elif isinstance(dtype, pl.Datetime) and dtype != UTC_US:
            expr = pl.col(name)
            expr = expr.dt.replace_time_zone("UTC") if dtype.time_zone is None else expr.dt.convert_time_zone("UTC")
            fixes.append(expr.dt.cast_time_unit("us"))
    return frame.with_columns(fixes) if fixes else frame


def read_published(path: Path) -> pl.DataFrame | None:
    """A published Parquet file as it is now, read through one open file (see load_snapshot); None when absent."""
    try:
        with open(path, "rb") as fh:
            return pl.read_parquet(fh)
    except FileNotFoundError:
        return None


def load_snapshot(snapshot_dir: Path, table: str, columns: tuple[str, ...] | None = None) -> pl.DataFrame | None:
    """A published table (only `columns` of it, when given), normalised; None when not published.

    Asking for a few columns reads only those (passings has hundreds of thousands of rows at
    50k runners); columns the file lacks are left out. The frame returned is shared by every
    caller until the file changes: treat it as read-only.
    """
    path = snapshot_path(snapshot_dir, table)
    try:
        # one open file for the stat, the schema and the rows: a publish renames a new file over
        # this one at any moment, and a read by path could take the footer of one file and the
        # row groups of the other ("Invalid thrift"); the open file keeps its own inode
        with open(path, "rb") as fh:
            stat = os.fstat(fh.fileno())
            key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            slot = (str(path), columns)
            with _cache_lock:
                hit = _cache.get(slot)
            if hit is not None and hit[0] == key:
                return hit[1]
            if columns is None:
                frame = pl.read_parquet(fh)
            else:
                present = set(pl.read_parquet_schema(fh))
                fh.seek(0)
                frame = pl.read_parquet(fh, columns=[c for c in columns if c in present])
    except FileNotFoundError:
        return None
    frame = normalise_snapshot(frame)
    with _cache_lock:
        _cache[slot] = (key, frame)
    return frame


def read_snapshot(snapshot_dir: Path, table: str, columns: tuple[str, ...] | None = None) -> pl.DataFrame:
    """A published table; a clear error when nothing has been published yet."""
    frame = load_snapshot(snapshot_dir, table, columns)
    if frame is None:
        raise FileNotFoundError(
            f"no published snapshot {snapshot_path(snapshot_dir, table)}: run an import or `racecramp marts` first"
        )
    return frame


# --------------------------------------------------------------------------- manifest

# The manifest's published marts not yet rebuilt with the data it counts: mart -> the wall
# time (UTC) of the first change since (publish.publisher.LiveCycle); empty when all are current.
MARTS_BEHIND = "marts_behind_since_utc"


def write_manifest(snapshot_dir: Path, manifest: dict) -> dict:
    atomic_write_text(Path(snapshot_dir) / MANIFEST, json.dumps(manifest, indent=2))
    return manifest


def read_manifest(snapshot_dir: Path) -> dict | None:
    path = Path(snapshot_dir) / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
