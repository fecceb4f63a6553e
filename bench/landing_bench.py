"""Benchmark: what each drain cycle pays to find its work as the landing zone fills up.

Every drain cycle polls how many batches have landed and lists the pending ones (twice:
reports first, then the rest). The landing zone is append-only: at race peak (a timing feed
posting every 0.5 s) it grows by ~7,000 batch files an hour, so a race ends with tens of
thousands. Run from the repository root (about a minute):

    .venv/bin/python bench/landing_bench.py
    .venv/bin/python bench/landing_bench.py --sizes 1000,10000,30000 --repeat 10

For each size it writes that many (tiny) batch files into a temporary landing zone and a
warehouse whose landing_log holds all but 10 of them (not timed), then times, best of
--repeat, in the same run:
- `poll`: orchestration.drain's landed-batch count (landing.count_batches), against the
  reference: the previous poll, len() of a full listing parsed with strptime;
- `pending`: warehouse.ingest.pending_batches (the merged ids read from landing_log, a Batch
  made only for the rest), against the reference: every file parsed into a Batch, then filtered.
Printed last: one line per size with both times and the ratio reference / now.

With `--merge` it then preloads the 50,000-runner race of bench/scaleup.py into a warehouse
(bench/latency_race.py `preload`, about a minute, not timed), lands `--feed-batches` timing-feed
batches of 25 passings each (a feed posting every 0.5 s at race peak) and times their merge
(warehouse.ingest.ingest_pending) grouped (GROUPED_KINDS: one validation and one upsert for
consecutive feed batches) against one batch at a time (MAX_GROUP_BATCHES = 1), alternating,
each on a fresh set of batches, after one untimed warm-up merge:

    .venv/bin/python bench/landing_bench.py --sizes 1000 --merge
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from racecramp import landing
from racecramp.landing.kinds import KIND_NAMES
from racecramp.warehouse.ingest import pending_batches
from racecramp.warehouse.sql import merged_batch_ids
from racecramp.warehouse.writer import open_writer

UNMERGED = 10
START = datetime(2017, 4, 17, 13, 0, tzinfo=UTC)


def _reference_list(landing_dir: Path) -> list[landing.Batch]:
    """The listing before this benchmark: Path.iterdir, strptime and a Batch for every file."""
    batches = []
    for kind in KIND_NAMES:
        directory = landing_dir / kind
        if not directory.is_dir():
            continue
        for path in directory.iterdir():
            if path.name.startswith(".") or path.suffix not in (".jsonl", ".parquet"):
                continue
            stem = path.name.split(".")[0] + "." + path.name.split(".")[1]
            stamp, batch_id = stem.rsplit("-", 1)
            landed = datetime.strptime(stamp, "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)
            batches.append(landing.Batch(batch_id, kind, path, landed, source=""))
    batches.sort(key=lambda b: (b.landed_at_utc, b.path.name))
    return batches


def _reference_pending(con, landing_dir: Path) -> list[landing.Batch]:
    done = merged_batch_ids(con)
    return [b for b in _reference_list(landing_dir) if b.batch_id not in done]


def _fill(root: Path, size: int):
    """`size` batch files of passings (names as landing writes them) and a warehouse that has merged all but UNMERGED."""
    landing_dir = root / "landing"
    directory = landing_dir / "passings"
    directory.mkdir(parents=True)
    ids = []
    for i in range(size):
        batch_id = uuid.uuid4().hex
        stamp = (START + timedelta(seconds=0.5 * i)).strftime("%Y%m%dT%H%M%S.%f")
        (directory / f"{stamp}-{batch_id}.jsonl").write_text("{}\n")
        ids.append(batch_id)
    merged = ids[: size - UNMERGED]
    log = pl.DataFrame({"batch_id": merged}).with_columns(
        kind=pl.lit("passings"), path=pl.lit(""), source=pl.lit("bench"),
        landed_at=pl.lit(START), ingested_at=pl.lit(START), rows=pl.lit(1), accepted=pl.lit(1), quarantined=pl.lit(0))
    warehouse = root / "warehouse.duckdb"
    with open_writer(warehouse) as con:
        con.register("_log", log.to_arrow())
        con.execute("INSERT INTO landing_log SELECT batch_id, kind, path, source, landed_at, ingested_at, "
                    "rows, accepted, quarantined FROM _log")
        con.unregister("_log")
    return landing_dir, warehouse


def _best(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - started)
    return best, out


def _feed_batches(settings, n: int, first_bib: int) -> None:
    for j in range(n):
        records = [{"race_id": "boston-2017", "bib": str(first_bib + 25 * j + i), "point_id": "mat-05k", "km": 5.0,
                    "net_time_s": 1650.0 + i, "passed_at_utc": (START + timedelta(hours=1, seconds=1650 + i)).isoformat(),
                    "simulated": True} for i in range(25)]
        landing.append_records(settings.landing_dir, "passings", records, source="intake:feed:timing")


def merge_bench(feed_batches: int, repeat: int) -> dict[str, list[float]]:
    """Seconds per feed batch merged at race scale, grouped and one at a time, alternating."""
    import importlib.util

    from racecramp.config import load_settings
    from racecramp.warehouse import ingest

    spec = importlib.util.spec_from_file_location("latency_race", Path(__file__).with_name("latency_race.py"))
    latency_race = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(latency_race)
    times: dict[str, list[float]] = {"grouped": [], "one at a time": []}
    with tempfile.TemporaryDirectory(prefix="racecramp-merge-bench-") as tmp:
        os.environ["RACECRAMP_CONFIG"] = str(latency_race.write_config(Path(tmp)))
        os.environ.pop("RACECRAMP_DATA_DIR", None)
        settings = load_settings()
        latency_race.preload(settings)
        bib = 1_000_000
        grouped = ingest.MAX_GROUP_BATCHES
        for mode in ["warm-up"] + ["grouped", "one at a time"] * repeat:
            ingest.MAX_GROUP_BATCHES = 1 if mode == "one at a time" else grouped
            _feed_batches(settings, feed_batches, bib)
            bib += 25 * feed_batches
            with open_writer(settings.warehouse_path) as con:
                started = time.perf_counter()
                summary = ingest.ingest_pending(con, settings.landing_dir, rules=settings.window_rules)
                elapsed = time.perf_counter() - started
            assert len(summary.batches) == feed_batches and summary.accepted == 25 * feed_batches, summary
            if mode != "warm-up":
                times[mode].append(elapsed / feed_batches)
        ingest.MAX_GROUP_BATCHES = grouped
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,30000", help="landing zone sizes (batch files), comma-separated")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--merge", action="store_true", help="also time the merge of feed batches at race scale")
    parser.add_argument("--feed-batches", type=int, default=20, help="feed batches per merge (--merge)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="racecramp-landing-bench-") as tmp:
            landing_dir, warehouse = _fill(Path(tmp), size)
            poll_now, counted = _best(lambda: landing.count_batches(landing_dir), args.repeat)
            poll_ref, listed = _best(lambda: len(_reference_list(landing_dir)), args.repeat)
            assert counted == listed == size, (counted, listed, size)
            with open_writer(warehouse) as con:
                pending_now, now = _best(lambda: pending_batches(con, landing_dir), args.repeat)
                pending_ref, ref = _best(lambda: _reference_pending(con, landing_dir), args.repeat)
            assert [b.batch_id for b in now] == [b.batch_id for b in ref] and len(now) == UNMERGED
            rows.append((size, poll_now, poll_ref, pending_now, pending_ref))
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
          f"load average {os.getloadavg()[0]:.1f}; best of {args.repeat}")
    print(f"{'batches':>8} | {'poll now':>9} | {'poll ref':>9} | {'ratio':>6} | {'pending now':>11} | {'pending ref':>11} | {'ratio':>6}")
    for size, poll_now, poll_ref, pending_now, pending_ref in rows:
        print(f"{size:>8} | {poll_now * 1000:>6.1f} ms | {poll_ref * 1000:>6.1f} ms | {poll_ref / poll_now:>5.1f}x | "
              f"{pending_now * 1000:>8.1f} ms | {pending_ref * 1000:>8.1f} ms | {pending_ref / pending_now:>5.1f}x")
    if args.merge:
        times = merge_bench(args.feed_batches, args.repeat)
        grouped, alone = (min(times[m]) for m in ("grouped", "one at a time"))
        print(f"merge of {args.feed_batches} feed batches of 25 passings into a 50,000-runner race, best of {args.repeat}, "
              f"load average {os.getloadavg()[0]:.1f}:")
        print(f"  grouped {grouped * 1000:.1f} ms a batch | one at a time {alone * 1000:.1f} ms a batch | ratio {alone / grouped:.1f}x")


if __name__ == "__main__":
    main()
