"""Drill benchmark (issue 15): the Boston 2017 replay at 60x through the live stack.

Run from the repository root (one command; the whole race at 60x is about 12 minutes):
    .venv/bin/python bench/drill.py
    .venv/bin/python bench/drill.py --wall-minutes 4      # only the first 4 wall minutes of the replay

It starts a real stack on loopback (Prefect server, served flows, intake; no dashboard
process) in a temporary directory, imports the race, and replays Boston 2017 (the real
runners at their real split times, SIMULATED cramps; racecramp.simulate.replay) at --speed.
Every second it samples:
- the replay clock: the race time the replay has sent up to (first event + elapsed x speed);
- the dashboard's race clock: what the dashboard computes from the published snapshots
  (views.shared.race_clock over cramp_reports and passings, as dashboard.ui does);
  lag = replay clock - dashboard clock, in race minutes and in wall seconds (/ speed);
- the landing backlog (batches landed, not yet in the published manifest);
- the resident memory (RSS) of every stack process and its children (the serve tree:
  Prefect server, served flows with their flow runs and mart builders, intake).
After the replay it waits for the backlog to drain. Printed last: lag max and p95, backlog
max, peak RSS of the tree and its mean over the first and last quarter of the run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from stack import replay_stack  # noqa: E402

SEED = 20170417
SAMPLE_S = 1.0


def tree_rss_bytes(pids: list[int]) -> int:
    """RSS of the processes and all their descendants."""
    total = 0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                continue
    return total


def dashboard_race_clock(snapshot_dir: Path, race_id: str) -> datetime | None:
    from racecramp.views import shared
    from racecramp.publish.snapshots import load_snapshot

    return shared.race_clock(
        shared.for_race(load_snapshot(snapshot_dir, "cramp_reports", ("race_id", "reported_at_utc")), race_id),
        shared.for_race(load_snapshot(snapshot_dir, "passings", ("race_id", "passed_at_utc")), race_id),
        datetime.now(UTC),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--wall-minutes", type=float, default=None, help="replay only this many wall minutes")
    parser.add_argument("--drain-s", type=float, default=300.0)
    parser.add_argument("--skip-kind", action="append", default=[],
                        help="leave out events of this kind (e.g. weather: the intake refuses the replay's weather "
                             "records at this commit, 422 on location/latitude_deg)")
    args = parser.parse_args(argv)

    from racecramp.orchestration.drain import landing_backlog
    from racecramp.simulate import replay

    source = replay.load_shipped_source("boston-2017")
    events = replay.build_events(source, SEED)
    if args.wall_minutes is not None:
        horizon_s = args.wall_minutes * 60 * args.speed
        events = [e for e in events if (e[0] - events[0][0]).total_seconds() <= horizon_s]
    events = [e for e in events if e[1] not in args.skip_kind]
    first, last = events[0][0], events[-1][0]
    print(f"replay: {len(events):,} events over {(last - first).total_seconds() / 3600:.1f} race hours at {args.speed:.0f}x "
          f"(cpus={os.cpu_count()}, loadavg {' '.join(f'{x:.2f}' for x in os.getloadavg())})", flush=True)

    samples: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="racecramp-drill-") as tmp, replay_stack(Path(tmp), source) as (settings, tokens):
        replay.ensure_race_published(settings, source)
        pids = [p.pid for p in psutil.Process().children()]  # the stack's processes (start_stack started them)
        sender = replay.IntakeSender(f"http://{settings.intake_host}:{settings.intake_port}", tokens)
        sender.check_tokens(events)
        started = time.monotonic()
        done = threading.Event()
        replay_error: list[BaseException] = []

        def send() -> None:
            try:
                replay.run(events, sender.send, args.speed)
            except BaseException as exc:  # re-raised below
                replay_error.append(exc)
            finally:
                done.set()

        thread = threading.Thread(target=send, daemon=True)
        thread.start()
        drain_deadline = None
        while True:
            now = time.monotonic()
            replay_clock = min(last, first + timedelta(seconds=(now - started) * args.speed))
            shown = dashboard_race_clock(settings.snapshot_dir, source.race_id)
            lag_s = (replay_clock - shown).total_seconds() if shown is not None else None
            samples.append({"t_s": now - started, "lag_race_s": lag_s, "backlog": landing_backlog(settings),
                            "rss_mb": tree_rss_bytes(pids) / 2**20, "replaying": not done.is_set()})
            if done.is_set():
                if drain_deadline is None:
                    drain_deadline = now + args.drain_s
                if (lag_s is not None and lag_s <= 60 and samples[-1]["backlog"] == 0) or now > drain_deadline:
                    break
            time.sleep(SAMPLE_S)
        sender.close()

    frame = pl.DataFrame(samples)
    during = frame.filter(pl.col("replaying") & pl.col("lag_race_s").is_not_null())
    lag = during["lag_race_s"]
    n = frame.height
    first_q = frame.head(max(1, n // 4))["rss_mb"].mean()
    last_q = frame.tail(max(1, n // 4))["rss_mb"].mean()
    wall_s = frame.filter(pl.col("replaying"))["t_s"].max()
    print(f"replayed in {wall_s:.0f} s wall; samples {n} every {SAMPLE_S:.0f} s; loadavg at end "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"landing backlog: max {frame['backlog'].max()} batches, p95 {frame['backlog'].quantile(0.95, 'linear'):.0f}")
    print(f"serve tree RSS: peak {frame['rss_mb'].max():.0f} MB; mean first quarter {first_q:.0f} MB, last quarter {last_q:.0f} MB")
    print(f"dashboard race clock behind the replay clock: max {lag.max() / 60:.1f} race min ({lag.max() / args.speed:.1f} s wall), "
          f"p95 {lag.quantile(0.95, 'linear') / 60:.1f} race min ({lag.quantile(0.95, 'linear') / args.speed:.1f} s wall), "
          f"p50 {lag.quantile(0.5, 'linear') / 60:.1f} race min")
    if replay_error:
        raise replay_error[0]
    return 0


if __name__ == "__main__":
    sys.exit(main())
