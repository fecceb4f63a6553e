"""The mart engine: every mart of the registry (marts.registry) from its input frames, pure.

`build_marts` walks the registry in dependency order; a mart of scope "race" is built per race
at that race's **race clock** (the latest passing or report, never later than the wall
clock: during a live race the wall clock within seconds, for a replay or an imported race
the moment its data stops). Builders return LazyFrames where they can; this is the one place
that collects them. With `only`, just those marts (and the internal ones they need) are
built, the others are taken from `reuse`: the live cycle recomputes what its inputs say
changed (publish.publisher).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Iterable

import polars as pl

from racecramp.marts.clock import race_clock as clock_of_frames
from racecramp.marts.registry import MARTS, Inputs, Mart, MartParams, build_order


def race_clock(frames: dict[str, pl.DataFrame], race_id: str, wall_utc: datetime) -> datetime | None:
    """Latest passing or report of the race, capped at the wall clock (marts.clock); None without data."""

    def of_race(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.filter(pl.col("race_id") == race_id) if frame.height else frame

    return clock_of_frames(of_race(frames["cramp_reports"]), of_race(frames["passings"]), wall_utc)


def race_start(race: dict) -> datetime | None:
    """The first wave's gun time of a races row."""
    starts = [w["start_utc"] for w in (race.get("start_waves") or []) if w.get("start_utc") is not None]
    return min(starts).astimezone(UTC) if starts else None


def collect(frame: pl.DataFrame | pl.LazyFrame | None, mart: Mart) -> pl.DataFrame:
    """The builder's result, collected, with the declared columns in order (an empty frame for None)."""
    if frame is None:
        return mart.empty()
    frame = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    missing = [c for c in mart.schema if c not in frame.columns]
    extra = [c for c in frame.columns if c not in mart.schema]
    if missing or extra:
        raise ValueError(f"mart {mart.name}: the builder's columns differ from marts.registry "
                         f"(missing {', '.join(missing) or 'none'}; undeclared {', '.join(extra) or 'none'})")
    return frame.select(list(mart.schema))


def _of_race(frame: pl.DataFrame | None, race_id: str) -> pl.DataFrame | None:
    """The race's rows, and rows that belong to no race (weather collected without a race_id)."""
    if frame is None or "race_id" not in frame.columns:
        return frame
    return frame.filter(pl.col("race_id").is_null() | (pl.col("race_id") == race_id))


def needed_marts(only: Iterable[str], available: Iterable[str] = ()) -> set[str]:
    """`only` plus every mart they read, transitively (a mart in `available` is read, not rebuilt)."""
    wanted = set(only)
    have = set(available) - wanted
    for m in reversed(build_order()):
        if m.name in wanted:
            wanted.update(i for i in m.inputs if i in MARTS and i not in have)
    return wanted


def build_marts(
    tables: dict[str, pl.DataFrame],
    wall_utc: datetime | None = None,
    params: MartParams = MartParams(),
    only: Iterable[str] | None = None,
    reuse: dict[str, pl.DataFrame] | None = None,
    seconds: dict[str, float] | None = None,
) -> dict[str, pl.DataFrame]:
    """Every mart (or `only` those) from the input tables; internal marts included in the result.

    `seconds`, when given, receives each built mart's build time (the live cycle reports them)."""
    wall_utc = wall_utc or datetime.now(UTC)
    wanted = needed_marts(only, reuse or ()) if only is not None else set(MARTS)
    frames: dict[str, pl.DataFrame] = dict(tables)
    out: dict[str, pl.DataFrame] = {}
    races = tables["races"].to_dicts() if "races" in tables else []
    for mart in build_order():
        if mart.name not in wanted:
            if reuse is not None and mart.name in reuse:
                frames[mart.name] = reuse[mart.name]
            continue
        inputs = {name: frames[name] for name in mart.inputs if name in frames}
        started = time.perf_counter()
        if mart.scope == "all":
            result = collect(mart.build(Inputs(inputs, params, wall_utc)), mart)
        else:
            parts = []
            for race in races:
                now = race_clock(frames, race["race_id"], wall_utc)
                if now is None:
                    continue
                scoped = {name: _of_race(frame, race["race_id"]) for name, frame in inputs.items()}
                parts.append(collect(mart.build(Inputs(scoped, params, wall_utc, race["race_id"], now, race_start(race))), mart))
            result = pl.concat(parts, how="vertical_relaxed") if parts else mart.empty()
        frames[mart.name] = out[mart.name] = result
        if seconds is not None:
            seconds[mart.name] = time.perf_counter() - started
    return out


def compute_marts(inputs: dict[str, pl.DataFrame], wall_utc: datetime | None = None,
                  stale_after_s: float = MartParams.stale_after_s) -> dict[str, pl.DataFrame]:
    """Every published mart from the input frames (pure: no I/O)."""
    marts = build_marts(inputs, wall_utc, MartParams(stale_after_s=stale_after_s))
    return {name: frame for name, frame in marts.items() if MARTS[name].published}
