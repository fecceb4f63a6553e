"""Benchmark (issue 3): report -> published-snapshot latency and intake throughput.

Run from the repository root:
    .venv/bin/python bench/latency.py
    .venv/bin/python bench/latency.py --warmup-s 20 --load-s 60

It starts a real stack on loopback (Prefect server, served flows, intake; no dashboard) in a
temporary directory with fresh ports and the test tokens (tests/stack.py), imports the
Boston 2017 course so the intake can check km, then:

1. Steady race-like load: every 0.5 s a batch of 100 timing passings (feed:timing:boston-2017) and every
   1 s one cramp report from station aid-23mi. For each report the time its 202 returned is
   recorded; a poller reads snapshots/cramp_reports.parquet every 0.1 s and records when the
   report_id first appears. Latency = appeared - acknowledged. The first ingest run is cold
   (Prefect starts the flow run from an event), so the first --warmup-s seconds of load are
   not measured; reports of the next --load-s seconds are.
2. Intake throughput: 20 batches of 1,000 passings from 4 client threads (events/s, batched),
   and 300 sequential single-report POSTs (events/s, single).

Last line: `p50_s=... p95_s=... intake_eps=...` (intake_eps is the batched figure).
Targets (issue 3, 2-core machine): p95 <= 5 s, intake >= 2,000 events/s batched.

`--race-scale` (issue 15): the same latency with a 50,000-runner race already in the
warehouse, at race peak and 10x, the live cycle against the full-recompute cycle in one run
(bench/latency_race.py says how).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from racecramp.data import data_dir  # noqa: E402

from stack import TOKENS, write_config  # noqa: E402

RACE_FILE = data_dir() / "races" / "boston-2017.toml"
STATION = "aid-23mi"
STATION_KM = 37.015
MATS = [("mat-05k", 5.0), ("mat-10k", 10.0), ("mat-15k", 15.0), ("mat-20k", 20.0), ("mat-half", 21.0975),
        ("mat-25k", 25.0), ("mat-30k", 30.0), ("mat-35k", 35.0), ("mat-40k", 40.0), ("finish", 42.195)]
START = datetime(2017, 4, 17, 14, 0, tzinfo=UTC)
PASSING_PERIOD_S = 0.5
PASSINGS_PER_TICK = 100
REPORT_PERIOD_S = 1.0
POLL_PERIOD_S = 0.1


def _auth(principal: str) -> dict:
    return {"Authorization": f"Bearer {TOKENS[principal]}"}


class Passings:
    """Unique (bib, point_id) passings: each new bib crosses all ten mats."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_bib = 100_000

    def batch(self, n: int) -> list[dict]:
        out: list[dict] = []
        with self._lock:
            while len(out) < n:
                bib = str(self._next_bib)
                self._next_bib += 1
                for point_id, km in MATS:
                    net_time_s = km * 330.0
                    out.append({"race_id": "boston-2017", "bib": bib, "point_id": point_id, "km": km,
                                "net_time_s": net_time_s,
                                "passed_at_utc": (START + timedelta(seconds=net_time_s)).isoformat()})
        return out[:n]


def _report(i: int) -> dict:
    return {
        "report_id": str(uuid.uuid4()),
        "race_id": "boston-2017",
        "source": "aid_station",
        "point_id": STATION,
        "km": STATION_KM,
        "bib": str(1000 + i % 26000),
        "reported_at_utc": (START + timedelta(minutes=120 + i % 180)).isoformat(),
        "muscle_group": ("calf", "hamstring", "quadriceps")[i % 3],
        "severity": "mild",
        "treatment": "stretch_massage",
        "disposition": "returned_to_race",
    }


def _accepted(response: httpx.Response, what: str) -> None:
    if response.status_code != 202:
        raise RuntimeError(f"{what}: expected 202, got {response.status_code}: {response.text[:500]}")


def steady_load(base: str, snapshot_dir: Path, warmup_s: float, load_s: float, drain_s: float) -> list[float]:
    """Latencies (s) of reports acknowledged after the warm-up, from 202 to snapshot."""
    from racecramp.publish.snapshots import read_snapshot

    acked: dict[str, float] = {}        # report_id -> time its 202 returned (measured reports only)
    appeared: dict[str, float] = {}
    lock = threading.Lock()
    stop_load = threading.Event()
    stop_poll = threading.Event()
    errors: list[BaseException] = []
    passings = Passings()
    t0 = time.monotonic()
    measure_from = t0 + warmup_s

    def passing_loop() -> None:
        try:
            with httpx.Client(base_url=base, timeout=30) as client:
                tick = time.monotonic()
                while not stop_load.is_set():
                    _accepted(client.post("/v1/passings", json={"passings": passings.batch(PASSINGS_PER_TICK)},
                                          headers=_auth("feed:timing:boston-2017")), "passings")
                    tick += PASSING_PERIOD_S
                    stop_load.wait(max(0.0, tick - time.monotonic()))
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)
            stop_load.set()

    def report_loop() -> None:
        try:
            with httpx.Client(base_url=base, timeout=30) as client:
                tick = time.monotonic()
                i = 0
                while not stop_load.is_set():
                    report = _report(i)
                    i += 1
                    response = client.post("/v1/reports", json=report, headers=_auth(f"station:boston-2017:{STATION}"))
                    now = time.monotonic()
                    _accepted(response, "report")
                    if now >= measure_from:
                        with lock:
                            acked[report["report_id"]] = now
                    tick += REPORT_PERIOD_S
                    stop_load.wait(max(0.0, tick - time.monotonic()))
        except BaseException as exc:
            errors.append(exc)
            stop_load.set()

    def poll_loop() -> None:
        try:
            while not stop_poll.is_set():
                try:
                    ids = read_snapshot(snapshot_dir, "cramp_reports")["report_id"].cast(pl.String)
                except FileNotFoundError:
                    ids = pl.Series([], dtype=pl.String)
                seen = time.monotonic()
                with lock:
                    for rid in set(acked).difference(appeared).intersection(ids.to_list()):
                        appeared[rid] = seen
                stop_poll.wait(POLL_PERIOD_S)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=f, daemon=True) for f in (passing_loop, report_loop, poll_loop)]
    for t in threads:
        t.start()
    stop_load.wait(warmup_s + load_s)
    stop_load.set()
    threads[0].join()
    threads[1].join()
    deadline = time.monotonic() + drain_s
    while time.monotonic() < deadline and not errors:
        with lock:
            if len(appeared) == len(acked):
                break
        time.sleep(POLL_PERIOD_S)
    stop_poll.set()
    threads[2].join()
    if errors:
        raise errors[0]
    missing = set(acked) - set(appeared)
    if missing:
        raise RuntimeError(f"{len(missing)} of {len(acked)} acknowledged reports never reached the snapshot within {drain_s:.0f} s")
    print(f"steady load: {len(acked)} reports measured after a {warmup_s:.0f} s warm-up, "
          f"{load_s:.0f} s of load ({PASSINGS_PER_TICK} passings every {PASSING_PERIOD_S} s, "
          f"1 report every {REPORT_PERIOD_S} s), snapshot polled every {POLL_PERIOD_S} s")
    return [appeared[r] - acked[r] for r in acked]


def batched_throughput(base: str, batches: int, batch_size: int, threads: int) -> float:
    passings = Passings()
    payloads = [{"passings": passings.batch(batch_size)} for _ in range(batches)]  # built before timing

    def post(chunk: list[dict]) -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            for payload in chunk:
                _accepted(client.post("/v1/passings", json=payload, headers=_auth("feed:timing:boston-2017")), "passings batch")

    chunks = [payloads[i::threads] for i in range(threads)]
    t = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(post, c) for c in chunks]:
            future.result()
    elapsed = time.perf_counter() - t
    eps = batches * batch_size / elapsed
    print(f"intake batched: {batches} x {batch_size} passings, {threads} threads, {elapsed:.2f} s -> {eps:,.0f} events/s")
    return eps


def single_throughput(base: str, n: int) -> float:
    reports = [_report(50_000 + i) for i in range(n)]
    with httpx.Client(base_url=base, timeout=30) as client:
        t = time.perf_counter()
        for report in reports:
            _accepted(client.post("/v1/reports", json=report, headers=_auth(f"station:boston-2017:{STATION}")), "single report")
        elapsed = time.perf_counter() - t
    eps = n / elapsed
    print(f"intake single: {n} sequential report POSTs, {elapsed:.2f} s -> {eps:,.0f} events/s")
    return eps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup-s", type=float, default=20.0)
    parser.add_argument("--load-s", type=float, default=60.0)
    parser.add_argument("--drain-s", type=float, default=60.0)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--singles", type=int, default=300)
    parser.add_argument("--race-scale", action="store_true", help="preload a 50,000-runner race (bench/latency_race.py)")
    parser.add_argument("--loads", default="peak,10x", help="with --race-scale: peak, 10x or both")
    args = parser.parse_args()
    if args.race_scale:
        sys.path.insert(0, str(ROOT / "bench"))
        import latency_race

        latency_race.main(args)
        return

    with tempfile.TemporaryDirectory(prefix="racecramp-latency-") as tmp:
        config = write_config(Path(tmp))
        os.environ["RACECRAMP_CONFIG"] = str(config)
        os.environ.pop("RACECRAMP_DATA_DIR", None)
        from racecramp.config import load_settings
        from racecramp.landing.bulk import import_race
        from racecramp.orchestration import supervisor as services

        settings = load_settings()
        import_race(settings, RACE_FILE)
        t = time.monotonic()
        running = services.start_stack(settings, with_dashboard=False)
        print(f"stack up in {time.monotonic() - t:.1f} s (cpus={os.cpu_count()}, "
              f"loadavg before load={' '.join(f'{x:.2f}' for x in os.getloadavg())})")
        try:
            base = f"http://{settings.intake_host}:{settings.intake_port}"
            latencies = steady_load(base, settings.snapshot_dir, args.warmup_s, args.load_s, args.drain_s)
            print(f"loadavg after steady load={' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            eps = batched_throughput(base, args.batches, args.batch_size, args.threads)
            single_eps = single_throughput(base, args.singles)
            print(f"loadavg at end={' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        finally:
            services.stop_stack(running)

    s = pl.Series("latency_s", latencies)
    print(f"latency: n={s.len()} min={s.min():.2f} max={s.max():.2f} mean={s.mean():.2f} s")
    print(f"single_report_eps={single_eps:.0f}")
    print(f"p50_s={s.quantile(0.5, 'linear'):.2f} p95_s={s.quantile(0.95, 'linear'):.2f} intake_eps={eps:.0f}")


if __name__ == "__main__":
    main()
