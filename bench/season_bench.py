"""Benchmark: season analytics over 1, 10 and 100 SIMULATED editions of 40,000 runners.

Run from the repository root:
    .venv/bin/python bench/season_bench.py                      # 1, 10, 100 editions × 40,000 runners
    .venv/bin/python bench/season_bench.py --editions 1 10 --runners 5000

Setup (timed, reported, not part of the analysis time): `racecramp.season.generate`
writes max(--editions) SIMULATED editions to --root (default racecramp-season-bench in the system's temporary folder);
the 1- and 10-edition runs analyse the first editions of that dataset.

Each run is a fresh child process (`--run single|dask|warm`), so its memory is its own:
- single: season_single_process (one process, polars default threads) + writing the results;
- dask (cold): flows/season_flow.run_season on a LocalCluster of 2 worker processes, including
  starting the temporary Prefect API and the cluster (that fixed cost is in the time);
- warm: what a user of a running racecramp stack sees. The child first starts a real Prefect
  server (`python -m prefect server start` on a free loopback port, PREFECT_HOME in a temp
  dir, as racecramp.orchestration.supervisor does) and, while it starts, the flow's LocalCluster of 2 worker
  processes (season_flow.local_cluster: 1 thread each, analysis code preloaded); it waits
  for /api/health and runs the flow once on 1 edition (first run: flow registered, workers'
  Prefect clients made). Only then does it time run_season(address=<that scheduler>) with
  PREFECT_API_URL pointing at that server. Start-up (from the child's creation to ready) and
  work are reported separately.
Wall time is measured by the parent around the child (for warm: the timed run inside the
child). Peak memory is the peak of the summed RSS of the child and every descendant (Dask
nanny and workers, the Prefect server), sampled every 50 ms with psutil over the child's
whole life (for warm, start-up included). The modes' tables are checked equal after the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
import psutil
from polars.testing import assert_frame_equal

REPO = Path(__file__).resolve().parents[1]
SAMPLE_S = 0.05
MODES = ("single", "dask", "warm")
SERVER_START_TIMEOUT_S = 180  # a loaded 2-core machine can take a minute to bring up the Prefect server
OUTPUT_TABLES = ("season_cramp_rate_by_wbgt", "season_cramp_rate_by_pace_group", "season_by_race_day_wbgt", "season_editions")


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


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_prefect_server(home: Path) -> tuple[subprocess.Popen, str]:
    """`prefect server start` on a free loopback port with PREFECT_HOME=home (own session); (process, API URL)."""
    port = free_loopback_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port)}  # fmt: skip
    env.pop("PREFECT_API_URL", None)
    log = open(home / "server.log", "wb")  # noqa: SIM115 - closed with the process by stop_prefect_server
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    return server, f"http://127.0.0.1:{port}/api"


def wait_healthy(server: subprocess.Popen, api_url: str, home: Path) -> None:
    import httpx

    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"prefect server exited with {server.returncode} before answering; log: {home / 'server.log'}")
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet: poll again
        time.sleep(0.2)
    raise TimeoutError(f"prefect server at {api_url} gave no healthy answer in {SERVER_START_TIMEOUT_S} s; log: {home / 'server.log'}")


def stop_prefect_server(server: subprocess.Popen) -> None:
    """SIGTERM to the server's own process group (it was started in a new session), then wait."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def run_warm(root: str, out: str, race_ids: list[str]) -> dict[str, float]:
    """Start a Prefect server and a 2-worker cluster, warm them with a 1-edition run, then time the run."""
    import shutil
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="racecramp-bench-prefect-"))
    server, api_url = start_prefect_server(home)
    try:
        # Before prefect is imported here: this process and the workers it spawns use that server.
        os.environ.update({"PREFECT_HOME": str(home), "PREFECT_API_URL": api_url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
        from racecramp.cli.season import load_season_flow

        flow = load_season_flow()
        with flow.local_cluster(2, {"PREFECT_API_URL": api_url}) as cluster:
            wait_healthy(server, api_url, home)
            flow.run_season(root, f"{out}-warmup", address=cluster.scheduler_address, race_ids=race_ids[-1:])
            ready = time.time()
            start = time.perf_counter()
            flow.run_season(root, out, address=cluster.scheduler_address, race_ids=race_ids)
            work = time.perf_counter() - start
            t = time.perf_counter()
        print(f"teardown: cluster closed in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=5)  # send the runs' last log records while the server still answers
        return {"startup_s": ready - psutil.Process().create_time(), "work_s": work}
    finally:
        t = time.perf_counter()
        stop_prefect_server(server)
        print(f"teardown: prefect server stopped in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        shutil.rmtree(home)  # the server's SQLite database and logs


def run_child(mode: str, root: str, out: str, editions: int) -> None:
    """Inside the child: analyse the first `editions` editions of the dataset."""
    from racecramp.season.dataset import list_editions

    race_ids = list_editions(root)[:editions]
    if len(race_ids) < editions:
        raise SystemExit(f"dataset {root} has {len(race_ids)} editions; expected at least {editions}")
    if mode == "single":
        from racecramp.season.run import season_single_process, write_season_results

        write_season_results(season_single_process(root, race_ids=race_ids), Path(out))
    elif mode == "dask":
        from racecramp.cli.season import load_season_flow

        load_season_flow().run_season(root, out, race_ids=race_ids, workers=2)
    else:
        Path(f"{out}.timing.json").write_text(json.dumps(run_warm(root, out, race_ids)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--editions", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--runners", type=int, default=40_000)
    parser.add_argument("--root", default=str(Path(tempfile.gettempdir()) / "racecramp-season-bench"))
    parser.add_argument("--reuse", action="store_true", help="keep an existing dataset of the right size")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--run", choices=MODES, help=argparse.SUPPRESS)
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
        for mode in args.modes:
            out = f"{args.root}/out-{mode}-{n}"
            load = os.getloadavg()[0]
            wall, peak = measured_child(["--run", mode, "--editions", str(n), "--root", args.root, "--out", out])
            row = {"editions": n, "mode": mode, "wall_s": round(wall, 1), "startup_s": None, "child_s": round(wall, 1),
                   "peak_rss_mb": round(peak / 1e6), "load_before": round(load, 2)}  # fmt: skip
            if mode == "warm":
                timing = json.loads(Path(f"{out}.timing.json").read_text())
                row.update(wall_s=round(timing["work_s"], 1), startup_s=round(timing["startup_s"], 1))
            rows.append(row)
            print(json.dumps(rows[-1]), flush=True)
        first, *others = args.modes
        for other in others:
            for name in OUTPUT_TABLES:
                assert_frame_equal(pl.read_parquet(f"{args.root}/out-{other}-{n}/{name}.parquet"), pl.read_parquet(f"{args.root}/out-{first}-{n}/{name}.parquet"))
        print(f"{n} editions: tables equal in modes {', '.join(args.modes)}")
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    print("| editions | mode | wall s (timed work) | start-up s (warm) | child process s | peak RSS (process tree) MB | load before |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        startup = "" if r["startup_s"] is None else r["startup_s"]
        print(f"| {r['editions']} | {r['mode']} | {r['wall_s']} | {startup} | {r['child_s']} | {r['peak_rss_mb']:,} | {r['load_before']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
