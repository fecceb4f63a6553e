"""Benchmark: every race mart for a 50,000-runner race, polars vs a pandas + sqlite3 reference.

Run from the repository root:
    .venv/bin/python bench/marts_bench.py            # 50,000 runners (bench/scaleup.py)
    .venv/bin/python bench/marts_bench.py --runners 30000 --repeat 5

It builds the scaled race (not timed), then times, from the input frames to finished marts:
exposure_by_point, cramp_rate_by_distance / _station / _pace_group / _wbgt / _sex_age,
station_load_15m, late_slowdown_by_edition and _by_finish_band. Polars: best of --repeat
runs; the reference: one run. It then checks the two give equal marts (floats within
1e-9 relative, 1e-6 absolute) and prints the times and the speed ratio. Targets (issue 5):
polars <= 1 s on the 2-core machine, >= 10x faster than the reference.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import time
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from racecramp.domain import MARATHON_KM
from racecramp.marts.exposure import exposure_by_point
from racecramp.marts.rates import (
    cramp_rate_by_distance,
    cramp_rate_by_pace_group,
    cramp_rate_by_sex_age,
    cramp_rate_by_station,
    cramp_rate_by_wbgt,
    station_load_15m,
)
from racecramp.marts.slowdown import late_slowdown_by_edition, late_slowdown_by_finish_band

BENCH = Path(__file__).resolve().parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def polars_marts(inputs: dict[str, pl.DataFrame], race_distance_km: float = MARATHON_KM) -> dict[str, pl.DataFrame]:
    """Every race mart from the input frames; exposure is computed once and shared."""
    participants, passings, course = inputs["participants"], inputs["passings"], inputs["course_points"]
    reports, weather = inputs["cramp_reports"], inputs["weather"]
    exposure = exposure_by_point(passings, participants, course).collect()
    lazy = {
        "cramp_rate_by_distance": cramp_rate_by_distance(reports, exposure, course),
        "cramp_rate_by_station": cramp_rate_by_station(reports, exposure),
        "cramp_rate_by_pace_group": cramp_rate_by_pace_group(reports, participants, passings, race_distance_km),
        "cramp_rate_by_wbgt": cramp_rate_by_wbgt(reports, exposure, weather),
        "cramp_rate_by_sex_age": cramp_rate_by_sex_age(reports, participants),
        "station_load_15m": station_load_15m(reports, exposure),
        "late_slowdown_by_edition": late_slowdown_by_edition(participants, passings),
        "late_slowdown_by_finish_band": late_slowdown_by_finish_band(participants, passings),
    }
    return dict(zip(lazy, pl.collect_all(list(lazy.values()))))


def assert_same_marts(got: dict[str, pl.DataFrame], expected: dict[str, pl.DataFrame]) -> None:
    """Same mart names, columns, row order and values (floats within tolerance)."""
    if set(got) != set(expected):
        raise AssertionError(f"marts differ: {sorted(set(got) ^ set(expected))}")
    for name in expected:
        try:
            assert_frame_equal(got[name], expected[name], check_dtypes=False, abs_tol=1e-6, rel_tol=1e-9)
        except AssertionError as err:
            raise AssertionError(f"mart {name}: {err}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runners", type=int, default=None, help="default: bench/scaleup.py TARGET_RUNNERS (50,000)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    scaleup = _load("scaleup")
    reference = _load("pandas_sqlite_reference")
    inputs = scaleup.scaled_race(args.runners or scaleup.TARGET_RUNNERS)
    print(
        f"race: {inputs['participants'].height:,} runners, {inputs['passings'].height:,} passings, "
        f"{inputs['cramp_reports'].height:,} simulated reports, {inputs['course_points'].height} course points"
    )
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, polars {pl.__version__}, python {platform.python_version()}")

    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        polars_out = polars_marts(inputs)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    reference_out = reference.reference_marts(inputs)
    reference_s = time.perf_counter() - start

    assert_same_marts(reference.as_polars(reference_out), polars_out)
    best = min(times)
    print("outputs equal: yes (" + ", ".join(f"{n} {f.height} rows" for n, f in polars_out.items()) + ")")
    print(f"polars: best {best:.3f} s, median {sorted(times)[len(times) // 2]:.3f} s over {args.repeat} runs")
    print(f"pandas + sqlite3 reference: {reference_s:.2f} s")
    print(f"speed ratio: {reference_s / best:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
