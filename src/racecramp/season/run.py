"""Season analysis I/O: read one edition's partitions, reduce it to counts; pool; write the results.

The Prefect flow (flows/season_flow.py) fans `editions_summary` out over a Dask cluster, one
task per chunk of editions (`edition_chunks`); the single-process path
(`season_single_process`) runs the same `edition_summary` in a loop, so the two give
identical tables (integer sums do not depend on order).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable

import polars as pl
from rich.table import Table

from racecramp.season.aggregates import EditionAggregates, SeasonAccumulator, edition_aggregates
from racecramp.season.dataset import list_editions, read_edition

# The tables the analysis reads (survey answers are in the dataset but not used here).
ANALYSIS_TABLES = ("participants", "passings", "course_points", "cramp_reports", "weather_heat")
SEASON_OUTPUTS = ("season_cramp_rate_by_wbgt", "season_cramp_rate_by_pace_group", "season_by_race_day_wbgt", "season_editions")
# Chunking of editions into Prefect tasks. A Prefect task run on Dask costs about 0.2 CPU-s
# (API calls for its states, logging) against about 0.4 s of work per edition of 40,000
# runners (measured on 2 cores; docs/benchmarks.md), so one task per edition spends a third
# of the CPU on bookkeeping. TASKS_PER_SLOT tasks per worker thread keep the workers evenly
# loaded when editions differ in size; MAX_EDITIONS_PER_TASK keeps a failed or retried task small.
TASKS_PER_SLOT = 4
MAX_EDITIONS_PER_TASK = 10


def edition_summary(root: str, race_id: str, storage_options: dict[str, Any] | None = None) -> EditionAggregates:
    """One edition read from its own partitions and reduced to its count tables."""
    return edition_aggregates(read_edition(root, race_id, ANALYSIS_TABLES, storage_options))


def editions_summary(root: str, race_ids: list[str], storage_options: dict[str, Any] | None = None) -> list[EditionAggregates]:
    """Several editions, each read and reduced in turn (one edition in memory at a time)."""
    return [edition_summary(root, race_id, storage_options) for race_id in race_ids]


def edition_chunks(race_ids: list[str], slots: int) -> list[list[str]]:
    """race_ids split, in order, into chunks of equal size (± 1) for `slots` parallel worker threads:
    about TASKS_PER_SLOT chunks per slot, at most MAX_EDITIONS_PER_TASK editions per chunk."""
    if slots < 1:
        raise ValueError(f"edition_chunks: slots={slots}; expected at least 1 worker thread")
    if not race_ids:
        return []
    per_chunk = min(MAX_EDITIONS_PER_TASK, max(1, math.ceil(len(race_ids) / (TASKS_PER_SLOT * slots))))
    n_chunks = math.ceil(len(race_ids) / per_chunk)
    size, extra = divmod(len(race_ids), n_chunks)
    chunks, start = [], 0
    for i in range(n_chunks):
        end = start + size + (1 if i < extra else 0)
        chunks.append(race_ids[start:end])
        start = end
    return chunks


def season_race_ids(root: str, storage_options: dict[str, Any] | None = None, race_ids: Iterable[str] | None = None) -> list[str]:
    """The editions to analyse: the given ones, else every edition in the dataset; none is an error."""
    chosen = sorted(race_ids) if race_ids is not None else list_editions(root, storage_options)
    if not chosen:
        raise FileNotFoundError(
            f"season dataset {root}: no editions found (expected participants/series=*/edition=*/part-0.parquet); "
            "import a race or run `racecramp season-generate` first"
        )
    return chosen


def season_single_process(
    root: str, storage_options: dict[str, Any] | None = None, race_ids: Iterable[str] | None = None
) -> dict[str, pl.DataFrame]:
    """The season tables computed in this process, one edition at a time."""
    acc = SeasonAccumulator()
    for race_id in season_race_ids(root, storage_options, race_ids):
        acc.add(edition_summary(root, race_id, storage_options))
    return acc.result()


def write_season_results(tables: dict[str, pl.DataFrame], out_dir: Path) -> list[Path]:
    """Each season table as <out_dir>/<name>.parquet, replaced atomically."""
    from racecramp.publish.snapshots import write_snapshot

    paths = []
    for name, frame in tables.items():
        path = Path(out_dir) / f"{name}.parquet"
        write_snapshot(frame, path)
        paths.append(path)
    return paths


def _num(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def _ci(low: float | None, high: float | None, fmt: str) -> str:
    return "–" if low is None or high is None else f"{low:{fmt}}–{high:{fmt}}"


def season_rich_tables(tables: dict[str, pl.DataFrame]) -> list[Table]:
    """Rich tables of the pooled results; titles say SIMULATED when any input was simulated."""
    out = []

    def label(frame: pl.DataFrame) -> str:
        return " — SIMULATED data" if frame.height and frame["simulated"].any() else ""

    wbgt = tables["season_cramp_rate_by_wbgt"]
    t = Table(title=f"Cramp rate by WBGT at the time, pooled over editions{label(wbgt)}")
    for name in ("WBGT flag", "band", "editions", "cases", "runners in the band", "per 1000", "95% CI (Wilson)"):
        t.add_column(name, justify="left" if name in ("WBGT flag", "band") else "right")
    for r in wbgt.iter_rows(named=True):
        ci = _ci(r["ci_low_per_1000"], r["ci_high_per_1000"], ".3f")
        t.add_row(r["wbgt_flag"], r["wbgt_band"], str(r["editions"]), f"{r['cases']:,}", f"{r['runners']:,}",
                  _num(r["rate_per_1000"], ".3f"), ci)  # fmt: skip
    out.append(t)

    pace = tables["season_cramp_rate_by_pace_group"]
    t = Table(title=f"Cramped runners per 1000 starters by pace group, pooled{label(pace)}")
    for name in ("grouping", "pace group", "cases", "starters", "per 1000", "95% CI (Wilson)"):
        t.add_column(name, justify="left" if name in ("grouping", "pace group") else "right")
    for r in pace.iter_rows(named=True):
        ci = _ci(r["ci_low_per_1000"], r["ci_high_per_1000"], ".1f")
        t.add_row(r["grouping"], r["pace_group"], f"{r['cases']:,}", f"{r['runners']:,}", _num(r["rate_per_1000"], ".1f"), ci)
    out.append(t)

    day = tables["season_by_race_day_wbgt"]
    t = Table(title=f"By race-day (peak) WBGT: cramp rate and late-slowdown share{label(day)}")
    for name in ("race-day flag", "editions", "starters", "cramps per 1000 (CI)", "slowed > 25% late (CI)"):
        t.add_column(name, justify="left" if name == "race-day flag" else "right")
    for r in day.iter_rows(named=True):
        rate = f"{_num(r['rate_per_1000'], '.1f')} ({_ci(r['ci_low_per_1000'], r['ci_high_per_1000'], '.1f')})"
        share = r["slowdown_share"]
        slow = "–" if share is None else (
            f"{100 * share:.1f} % ({100 * r['slowdown_ci_low']:.1f}–{100 * r['slowdown_ci_high']:.1f})"
        )
        t.add_row(f"{r['race_day_wbgt_flag']} ({r['wbgt_band']})", str(r["editions"]), f"{r['starters']:,}", rate, slow)
    out.append(t)
    return out
