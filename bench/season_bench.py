"""Benchmark: season analytics over 1, 10 and 100 SIMULATED editions of 40,000 runners.

Run from the repository root:
    .venv/bin/python bench/season_bench.py                      # 1, 10, 100 editions × 40,000 runners
    .venv/bin/python bench/season_bench.py --editions 1 10 --runners 5000

Setup (timed, reported, not part of the analysis time): `racecramp.season.generate`
writes max(--editions) SIMULATED editions to --root (default /tmp/racecramp-season-bench);
the 1- and 10-edition runs analyse the first editions of that dataset.

Each run is a fresh child process (`--run single|dask`), so its memory is its own:
- single: season_single_process (one process, polars default threads) + writing the results;
- dask: flows/season_flow.run_season on a LocalCluster of 2 worker processes, including
  starting the temporary Prefect API and the cluster (that fixed cost is in the time).
Wall time is measured by the parent around the child. Peak memory is the peak of the summed
RSS of the child and every descendant (Dask nanny and workers, the Prefect server), sampled
every 50 ms with psutil. Both modes' tables are checked equal after the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import psutil
from polars.testing import assert_frame_equal

REPO = Path(__file__).resolve().parents[1]
SAMPLE_S = 0.05


def tree_rss(proc: psutil.Process) -> int:
    """RSS of a process and all its descendants, in bytes (processes that vanish count 0)."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def measured_child(args: list[str]) -> tuple[float, int]:
    """Run a child to completion; (wall seconds, peak tree RSS bytes)."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, __file__, *args], cwd=REPO)
    proc = psutil.Process(child.pid)
    peak = 0
    while child.poll() is None:
        peak = max(peak, tree_rss(proc))
        time.sleep(SAMPLE_S)
    wall = time.perf_counter() - start
    if child.returncode != 0:
        raise RuntimeError(f"benchmark child {args} exited with {child.returncode}")
    return wall, peak


def run_child(mode: str, root: str, out: str, editions: int) -> None:
    """Inside the child: analyse the first `editions` editions of the dataset."""
    from racecramp.season.dataset import list_editions
    from racecramp.season.run import season_single_process, write_season_results

    race_ids = list_editions(root)[:editions]
    if len(race_ids) < editions:
        raise SystemExit(f"dataset {root} has {len(race_ids)} editions; expected at least {editions}")
    if mode == "single":
        write_season_results(season_single_process(root, race_ids=race_ids), Path(out))
    else:
        from racecramp.season.cli import load_season_flow

        load_season_flow().run_season(root, out, race_ids=race_ids, workers=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--editions", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--runners", type=int, default=40_000)
    parser.add_argument("--root", default="/tmp/racecramp-season-bench")
    parser.add_argument("--reuse", action="store_true", help="keep an existing dataset of the right size")
    parser.add_argument("--run", choices=["single", "dask"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    dataset = f"{args.root}/dataset"
    if args.run:
        run_child(args.run, dataset, args.out, args.editions[0])
        return 0

    os.environ.setdefault("PREFECT_HOME", f"{args.root}/prefect")
    os.environ.pop("PREFECT_API_URL", None)
    from racecramp.season.dataset import list_editions
    from racecramp.season.generate import generate_season

    most = max(args.editions)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, polars {pl.__version__}, python {platform.python_version()}, "
          f"load average at start {os.getloadavg()[0]:.2f}")  # fmt: skip
    if not (args.reuse and len(list_editions(dataset)) >= most):
        import shutil

        shutil.rmtree(dataset, ignore_errors=True)
        start = time.perf_counter()
        generate_season(dataset, most, args.runners)
        size = sum(f.stat().st_size for f in Path(dataset).rglob("*.parquet"))
        print(f"setup: generated {most} SIMULATED editions × {args.runners:,} runners in {time.perf_counter() - start:.1f} s "
              f"({size / 1e6:.0f} MB of Parquet)")  # fmt: skip
    rows = []
    for n in args.editions:
        for mode in ("single", "dask"):
            out = f"{args.root}/out-{mode}-{n}"
            wall, peak = measured_child(["--run", mode, "--editions", str(n), "--root", args.root, "--out", out])
            rows.append({"editions": n, "mode": mode, "wall_s": round(wall, 1), "peak_rss_mb": round(peak / 1e6)})
            print(json.dumps(rows[-1]), flush=True)
        for name in ("season_cramp_rate_by_wbgt", "season_cramp_rate_by_pace_group", "season_by_race_day_wbgt", "season_editions"):
            assert_frame_equal(pl.read_parquet(f"{args.root}/out-dask-{n}/{name}.parquet"), pl.read_parquet(f"{args.root}/out-single-{n}/{name}.parquet"))
        print(f"{n} editions: single-process and Dask tables equal")
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    print("| editions | mode | wall s | peak RSS (process tree) MB |\n|---:|---|---:|---:|")
    for r in rows:
        print(f"| {r['editions']} | {r['mode']} | {r['wall_s']} | {r['peak_rss_mb']:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
