"""Prefect flow `season`: per-edition counts fanned out on Dask (a chunk of editions per task),
pooled across editions, written.

Run by `racecramp season` (racecramp.cli.season). The Dask scheduler is settings.dask_address;
when empty, a LocalCluster of LOCAL_WORKERS worker processes is started for the run and torn
down after it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from distributed import LocalCluster
from prefect import flow, task
from prefect.context import get_run_context
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect_dask import DaskTaskRunner

from racecramp.orchestration.supervisor import wait_healthy
from racecramp.season.aggregates import EditionAggregates, SeasonAccumulator
from racecramp.season.run import edition_chunks, editions_summary, season_race_ids, write_season_results

LOCAL_WORKERS = 2
# One polars thread per worker process: 2 workers × 1 thread fill the 2 cores without
# oversubscription (measured faster than 2 × 2 threads; docs/benchmarks.md).
WORKER_ENV = {"POLARS_MAX_THREADS": "1"}
# Imported by each worker as it starts (in parallel with the Prefect server start-up),
# not on its first task.
WORKER_PRELOAD = ("prefect", "racecramp.season.run")
SERVER_START_TIMEOUT_S = 120  # a loaded 2-core machine can take over 20 s (Prefect's default wait)


def local_cluster(workers: int = LOCAL_WORKERS, env: dict[str, str] | None = None) -> LocalCluster:
    """`workers` worker processes, one thread each, that import the analysis code as they start."""
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                        env={**WORKER_ENV, **(env or {})}, preload=list(WORKER_PRELOAD))  # fmt: skip


def _chunk_run_name() -> str:
    """`edition-counts synthetic-0001…synthetic-0010`: the chunk's first and last edition."""
    from prefect.runtime import task_run

    ids = task_run.parameters["race_ids"]
    return f"edition-counts {ids[0]}…{ids[-1]}"


@task(name="edition-counts", task_run_name=_chunk_run_name)
def edition_counts(root: str, race_ids: list[str], storage_options: dict[str, Any] | None) -> list[EditionAggregates]:
    return editions_summary(root, race_ids, storage_options)


def worker_slots() -> int:
    """Worker threads of the flow's Dask cluster (1 when the flow runs without Dask or none has joined yet)."""
    runner = get_run_context().task_runner
    return max(1, sum(runner.client.nthreads().values())) if isinstance(runner, DaskTaskRunner) else 1


@flow(name="season")
def season(root: str, out_dir: str, storage_options: dict[str, Any] | None = None,
           race_ids: list[str] | None = None) -> list[str]:  # fmt: skip
    """List editions, count them in chunks on the cluster, pool the counts, write the season tables."""
    chunks = edition_chunks(season_race_ids(root, storage_options, race_ids), worker_slots())
    futures = [edition_counts.submit(root, chunk, storage_options) for chunk in chunks]
    pooled = SeasonAccumulator()
    for future in futures:
        for part in future.result():
            pooled.add(part)
    return [str(p) for p in write_season_results(pooled.result(), Path(out_dir))]


def _start_prefect_server(stack: ExitStack) -> tuple[subprocess.Popen, str]:
    """A temporary Prefect server in its own process and home (not Prefect's in-process
    singleton, whose state an earlier run in the same process can leave behind)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = stack.enter_context(tempfile.TemporaryDirectory(prefix="racecramp-season-prefect-"))
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=home, PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_LOGGING_LEVEL="WARNING")
    process = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    stack.callback(_stop_server, process)
    return process, f"http://127.0.0.1:{port}/api"


def _stop_server(process: subprocess.Popen) -> None:
    """Send the run's last log records before the temporary API goes away (else they retry at exit)."""
    APILogWorker.drain_all(timeout=5)
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_season(root: str, out_dir: str, address: str = "", storage_options: dict[str, Any] | None = None,
               race_ids: list[str] | None = None, workers: int = LOCAL_WORKERS) -> list[str]:  # fmt: skip
    """Run the flow on the Dask scheduler at `address`, or on a LocalCluster of `workers` processes.

    Task runs report to the Prefect API. Without PREFECT_API_URL one temporary Prefect server
    is started here, while the local cluster starts, and its URL is handed to the local
    workers (otherwise each worker process starts its own, about 7 s each). Workers of an
    existing cluster need PREFECT_API_URL in their own environment.
    """
    api_url = PREFECT_API_URL.value()
    with ExitStack() as stack:
        server = None
        if not api_url:
            server, api_url = _start_prefect_server(stack)  # starts while the cluster starts
        if address:
            runner = DaskTaskRunner(address=address)
        else:
            cluster = stack.enter_context(local_cluster(workers, {"PREFECT_API_URL": api_url}))
            runner = DaskTaskRunner(address=cluster.scheduler_address)
        if server is not None:
            wait_healthy(api_url + "/health", SERVER_START_TIMEOUT_S, server)
        with temporary_settings({PREFECT_API_URL: api_url}):
            return season.with_options(task_runner=runner)(root, out_dir, storage_options, race_ids)
