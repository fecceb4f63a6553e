"""Race-scale latency (issue 15): report -> published snapshot with a 50,000-runner race in the warehouse.

Run from the repository root (one command; about 6 minutes on the 2-core machine):
    .venv/bin/python bench/latency.py --race-scale
    .venv/bin/python bench/latency.py --race-scale --warmup-s 10 --load-s 30 --loads peak   # shorter

In a temporary directory it imports the Boston 2017 course and weather, then preloads the
50,000-runner race of bench/scaleup.py (every runner, ~500,000 passings, the simulated
reports) through the landing zone and the ingest, and publishes once (not timed). It starts
the real intake (HTTP, loopback) and then, for each load and each cycle, a drain process
(`orchestration.drain.drain` in a child process, as the served ingest flow runs it):
- `incremental`: the live cycle (publish.publisher.LiveCycle);
- `full`: every cycle recomputes every mart and rewrites every snapshot (the cycle before
  issue 15), measured in the same run as the reference.
Loads: `peak` = 25 passings every 0.5 s (50/s) and one report every 3 s; `10x` = 250
passings every 0.5 s and one report every 0.3 s. Passings are of new bibs at the early mats
(the race grows); reports come from aid-23mi, each for a different runner of the race who
has no report yet, 4 h after the gun (later than any passing, so it moves the race clock).

Measured per report acknowledged after the warm-up:
- report -> `snapshots/cramp_reports.parquet` holds it (what the command page counts);
- report -> `snapshots/runner_status.parquet` shows it (the runner's last report), an urgent mart.
Printed last: one line per (load, cycle) with p50/p95/max, then the ratios full/incremental.
Targets (issue 15): report -> dashboard data p95 <= 1 s at peak, <= 3 s at 10x.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import polars as pl

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "tests"))

from stack import TOKENS, write_config  # noqa: E402

STATION = "aid-23mi"
STATION_KM = 37.015
START = datetime(2017, 4, 17, 14, 0, tzinfo=UTC)
EARLY_MATS = [("mat-05k", 5.0), ("mat-10k", 10.0)]
LOADS = {  # name: (passings per 0.5 s tick, seconds between reports)
    "peak": (25, 3.0),
    "10x": (250, 0.3),
}
TICK_S = 0.5
POLL_S = 0.1


def _load_module(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _auth(principal: str) -> dict:
    return {"Authorization": f"Bearer {TOKENS[principal]}"}


def preload(settings) -> dict[str, int]:
    """Course, weather and the scaled 50,000-runner race in the warehouse, published once."""
    from racecramp.data import data_dir
    from racecramp.landing import append_frame
    from racecramp.landing.bulk import import_race, import_weather
    from racecramp.landing.kinds import KINDS
    from racecramp.publish.publisher import publish_after_ingest
    from racecramp.warehouse.ingest import ingest_pending
    from racecramp.warehouse.writer import open_writer

    scaleup = _load_module("scaleup")
    import_race(settings, scaleup.race_file("boston-2017"))
    import_weather(settings, data_dir() / "weather" / "boston_hourly.csv", "boston-2017")
    race = scaleup.scaled_race()
    for kind, table in (("participants", "participants"), ("passings", "passings"), ("reports", "cramp_reports")):
        append_frame(settings.landing_dir, kind, KINDS[kind].conform(race[table]), "bench/scaleup.py")
    with open_writer(settings.warehouse_path) as con:
        ingest_pending(con, settings.landing_dir, rules=settings.window_rules)
        publish_after_ingest(con, settings, None)
    reported = set(race["cramp_reports"]["bib"].drop_nulls().to_list())
    bibs = [b for b in race["participants"]["bib"].to_list() if b not in reported][:5000]
    return {"runners": race["participants"].height, "passings": race["passings"].height,
            "reports": race["cramp_reports"].height, "bibs": bibs}


def _report(i: int, bib: str) -> dict:
    return {
        "report_id": str(uuid.uuid4()), "race_id": "boston-2017", "source": "aid_station", "point_id": STATION,
        "km": STATION_KM, "bib": bib, "reported_at_utc": (START + timedelta(hours=4, seconds=i)).isoformat(),
        "muscle_group": ("calf", "hamstring", "quadriceps")[i % 3], "severity": "mild",
        "treatment": "stretch_massage", "disposition": "returned_to_race",
    }


class Load:
    """Passings and reports posted to the intake at a fixed rate; what was acknowledged when."""

    def __init__(self, base: str, passings_per_tick: int, report_every_s: float, bibs: list[str], first_bib: int,
                 first_report: int) -> None:
        self.base, self.per_tick, self.every_s, self.bibs = base, passings_per_tick, report_every_s, bibs
        self.next_bib = first_bib
        self.acked: dict[str, tuple[float, str, datetime]] = {}  # report_id -> (ack time, bib, reported_at)
        self.measure = threading.Event()
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.reports = first_report  # each phase its own runners and report times

    def _passings(self) -> list[dict]:
        out = []
        while len(out) < self.per_tick:
            bib = f"L{self.next_bib:06d}"
            self.next_bib += 1
            for point_id, km in EARLY_MATS:
                t = km * 330.0
                out.append({"race_id": "boston-2017", "bib": bib, "point_id": point_id, "km": km, "net_time_s": t,
                            "passed_at_utc": (START + timedelta(seconds=t)).isoformat()})
        return out[: self.per_tick]

    def _passing_loop(self) -> None:
        try:
            with httpx.Client(base_url=self.base, timeout=30) as client:
                tick = time.monotonic()
                while not self.stop.is_set():
                    r = client.post("/v1/passings", json={"passings": self._passings()}, headers=_auth("feed:timing:boston-2017"))
                    if r.status_code != 202:
                        raise RuntimeError(f"passings: expected 202, got {r.status_code}: {r.text[:300]}")
                    tick += TICK_S
                    self.stop.wait(max(0.0, tick - time.monotonic()))
        except BaseException as exc:
            self.errors.append(exc)
            self.stop.set()

    def _report_loop(self) -> None:
        try:
            with httpx.Client(base_url=self.base, timeout=30) as client:
                tick = time.monotonic()
                while not self.stop.is_set():
                    i = self.reports
                    self.reports += 1
                    report = _report(i, self.bibs[i])
                    r = client.post("/v1/reports", json=report, headers=_auth(f"station:boston-2017:{STATION}"))
                    now = time.monotonic()
                    if r.status_code != 202:
                        raise RuntimeError(f"report: expected 202, got {r.status_code}: {r.text[:300]}")
                    if self.measure.is_set():
                        self.acked[report["report_id"]] = (now, report["bib"], datetime.fromisoformat(report["reported_at_utc"]))
                    tick += self.every_s
                    self.stop.wait(max(0.0, tick - time.monotonic()))
        except BaseException as exc:
            self.errors.append(exc)
            self.stop.set()

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=f, daemon=True) for f in (self._passing_loop, self._report_loop)]
        for t in threads:
            t.start()
        return threads


def watch(snapshot_dir: Path, load: Load, stop: threading.Event, seen_reports: dict, seen_status: dict) -> None:
    """Poll the snapshots every POLL_S: when each acknowledged report first shows."""
    from racecramp.publish.snapshots import load_snapshot

    while not stop.is_set():
        pending = {rid: v for rid, v in list(load.acked.items()) if rid not in seen_reports or rid not in seen_status}
        if pending:
            reports = load_snapshot(snapshot_dir, "cramp_reports", ("report_id",))
            status = load_snapshot(snapshot_dir, "runner_status", ("bib", "last_report_at_utc"))
            now = time.monotonic()
            ids = set(reports["report_id"].to_list()) if reports is not None else set()
            shown = set()
            if status is not None:
                wanted = pl.DataFrame({"bib": [v[1] for v in pending.values()],
                                       "last_report_at_utc": [v[2] for v in pending.values()]},
                                      schema={"bib": pl.String, "last_report_at_utc": pl.Datetime("us", "UTC")})
                hit = status.join(wanted, on=["bib"], how="inner").filter(
                    pl.col("last_report_at_utc") == pl.col("last_report_at_utc_right"))
                shown = set(zip(hit["bib"].to_list(), hit["last_report_at_utc_right"].to_list()))
            for rid, (_, bib, at) in pending.items():
                if rid not in seen_reports and rid in ids:
                    seen_reports[rid] = now
                if rid not in seen_status and (bib, at) in shown:
                    seen_status[rid] = now
        stop.wait(POLL_S)


def run_drain(config: Path, mode: str, seconds: float) -> subprocess.Popen:
    env = dict(os.environ, RACECRAMP_CONFIG=str(config))
    env.pop("PREFECT_API_URL", None)
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "_drain", mode, str(seconds)], env=env)


def _drain_child(mode: str, seconds: float) -> None:
    from racecramp.config import load_settings
    from racecramp.orchestration.drain import drain

    report = drain(load_settings(), linger_s=seconds, max_s=seconds, incremental=mode == "incremental")
    print(f"  drain {mode}: {report.cycles} cycles, {report.batches} batches merged in {report.seconds:.0f} s", flush=True)


def measure(config: Path, settings, base: str, load_name: str, mode: str, warmup_s: float, load_s: float,
            drain_s: float, bibs: list[str], first_bib: int, first_report: int) -> tuple[list[float], list[float]]:
    per_tick, every_s = LOADS[load_name]
    child = run_drain(config, mode, warmup_s + load_s + drain_s + 30)
    load = Load(base, per_tick, every_s, bibs, first_bib, first_report)
    seen_reports: dict[str, float] = {}
    seen_status: dict[str, float] = {}
    stop_watch = threading.Event()
    watcher = threading.Thread(target=watch, args=(settings.snapshot_dir, load, stop_watch, seen_reports, seen_status), daemon=True)
    watcher.start()
    threads = load.start()
    load.stop.wait(warmup_s)
    load.measure.set()
    load.stop.wait(load_s)
    load.stop.set()
    for t in threads:
        t.join()
    deadline = time.monotonic() + drain_s
    while time.monotonic() < deadline and not (len(seen_reports) == len(seen_status) == len(load.acked)):
        time.sleep(POLL_S)
    stop_watch.set()
    watcher.join()
    child.terminate()
    child.wait(timeout=60)
    if load.errors:
        raise load.errors[0]
    missing = len(load.acked) - len(seen_reports)
    if missing:
        raise RuntimeError(f"{load_name}/{mode}: {missing} of {len(load.acked)} reports never reached the snapshot in {drain_s:.0f} s")
    to_reports = [seen_reports[r] - load.acked[r][0] for r in load.acked]
    to_status = [seen_status[r] - load.acked[r][0] for r in load.acked if r in seen_status]
    print(f"  {load_name}/{mode}: {len(load.acked)} reports measured, {len(to_status)} seen in runner_status", flush=True)
    return to_reports, to_status


def _figures(values: list[float]) -> tuple[float, float, float]:
    s = pl.Series(values, dtype=pl.Float64)
    return s.quantile(0.5, "linear"), s.quantile(0.95, "linear"), s.max()


def intake_stack(settings, log_dir: Path):
    """(stack, intake child, environment): the real intake of `settings` on loopback, not started
    yet, no Prefect in the loop; stop it with supervisor.stop_stack(stack)."""
    from racecramp.orchestration.supervisor import Child, Stack, prefect_env

    env = prefect_env(settings)
    env.pop("PREFECT_API_URL")
    intake = Child("intake", [sys.executable, "-m", "racecramp.cli", "intake"],
                   f"http://{settings.intake_host}:{settings.intake_port}/v1/health")
    intake.log_path = log_dir / "intake.log"
    stack = Stack(settings)
    stack.children.append(intake)
    return stack, intake, env


def main(args) -> None:
    loads = [name.strip() for name in args.loads.split(",")]
    with tempfile.TemporaryDirectory(prefix="racecramp-latency-race-") as tmp:
        config = write_config(Path(tmp))
        os.environ["RACECRAMP_CONFIG"] = str(config)
        os.environ.pop("RACECRAMP_DATA_DIR", None)
        os.environ.pop("PREFECT_API_URL", None)
        from racecramp.config import load_settings
        from racecramp.orchestration.supervisor import _launch, stop_stack

        settings = load_settings()
        t = time.monotonic()
        sizes = preload(settings)
        print(f"preloaded {sizes['runners']:,} runners, {sizes['passings']:,} passings, {sizes['reports']} reports "
              f"in {time.monotonic() - t:.0f} s (cpus={os.cpu_count()})", flush=True)
        stack, intake, env = intake_stack(settings, Path(tmp))
        _launch(intake, env)
        bibs = sizes["bibs"]  # runners without a report yet: runner_status shows exactly this one
        results: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
        try:
            base = f"http://{settings.intake_host}:{settings.intake_port}"
            first_bib = first_report = 0
            for load_name in loads:
                for mode in ("incremental", "full"):
                    print(f"{load_name} load, {mode} cycle: loadavg {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
                    results[(load_name, mode)] = measure(config, settings, base, load_name, mode, args.warmup_s, args.load_s,
                                                         args.drain_s, bibs, first_bib, first_report)
                    first_bib += 100_000
                    first_report += 1000
        finally:
            stop_stack(stack)

    print()
    print("report -> snapshot latency, seconds (p50 / p95 / max):")
    for (load_name, mode), (to_reports, to_status) in results.items():
        p50, p95, mx = _figures(to_reports)
        s50, s95, smx = _figures(to_status) if to_status else (float("nan"),) * 3
        print(f"{load_name:5s} {mode:11s} cramp_reports p50={p50:.2f} p95={p95:.2f} max={mx:.2f}   "
              f"runner_status p50={s50:.2f} p95={s95:.2f} max={smx:.2f}")
    for load_name in loads:
        inc, full = results[(load_name, "incremental")], results[(load_name, "full")]
        ratio = _figures(full[0])[1] / _figures(inc[0])[1]
        target = 1.0 if load_name == "peak" else 3.0
        p95 = _figures(inc[0])[1]
        print(f"{load_name}: p95 full/incremental = {ratio:.1f}x; target p95 <= {target:.0f} s: "
              f"{'met' if p95 <= target else 'NOT met'} ({p95:.2f} s)")


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "_drain":
    _drain_child(sys.argv[2], float(sys.argv[3]))
