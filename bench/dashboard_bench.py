"""Server-side time to render the command page at 50,000 runners (issue 6 target: <= 300 ms).

Builds the Boston 2017 demo race replicated to 50,000 runners and cut at 13:30 local
(tests/dashboards/dashboard_fixtures.py: build_demo_race, simulated reports from the hazard
model, every mart from marts.compute_marts), publishes it to a temp data dir, then times
Streamlit's AppTest running the whole app script (app.py + pages/command.py, including the
5 s fragment) in this process:

- warm: snapshots unchanged since the last refresh (the read cache on (inode, mtime, size) hits);
- after publish: every snapshot the page reads was replaced just before the run (cache miss,
  Parquet read again) — the first refresh after each ingest.

It also times racecramp.views alone (the page's numbers without Streamlit).
Writes the section "## Dashboard (issue 6)" of docs/benchmarks.md (other sections untouched).

    .venv/bin/python bench/dashboard_bench.py [--runners 50000] [--repeats 30] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "dashboard"))

from racecramp.views import command as command_view  # noqa: E402
from racecramp.views import shared  # noqa: E402

from apptest_helpers import app, race_env  # noqa: E402
from dashboard_fixtures import RACE, build_demo_race  # noqa: E402

DEMO_NOW = datetime(2017, 4, 17, 17, 30, tzinfo=UTC)
TARGET_MS = 300.0
SECTION = "## Dashboard (issue 6)"
# Snapshots the command page reads (republished before each "after publish" run).
COMMAND_TABLES = ("races", "cramp_reports", "passings", "participants", "runner_status", "weather_heat",
                  "station_load_15m", "alerts")


def _republish(snapshot_dir: Path) -> None:
    """Give every snapshot the page reads a new identity, as os.replace by the publisher does."""
    for table in COMMAND_TABLES:
        path = snapshot_dir / f"{table}.parquet"
        copy = path.with_name(f".{path.name}.bench")
        copy.write_bytes(path.read_bytes())
        os.replace(copy, path)


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"median": statistics.median(ordered) * 1000, "p95": ordered[int(0.95 * (len(ordered) - 1))] * 1000,
            "min": ordered[0] * 1000, "max": ordered[-1] * 1000}


def _time_apptest(repeats: int, snapshot_dir: Path, republish: bool) -> list[float]:
    at = app()
    at.run()  # first run: imports and cache fill, not counted
    assert not at.exception, [e.message for e in at.exception]
    times = []
    for _ in range(repeats):
        if republish:
            _republish(snapshot_dir)
        start = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - start)
        assert not at.exception, [e.message for e in at.exception]
    assert any(m.label == "Last 15 min" for m in at.metric), "the command page did not render its KPIs"
    return times


def _time_data(repeats: int, snapshot_dir: Path, republish: bool) -> list[float]:
    snaps = shared.Snapshots(snapshot_dir)
    times = []
    for _ in range(repeats):
        if republish:
            _republish(snapshot_dir)
        start = time.perf_counter()
        now = shared.race_clock(snaps.table("cramp_reports", ("race_id", "reported_at_utc")),
                            snaps.table("passings", ("race_id", "passed_at_utc")), datetime.now(UTC))
        command_view.command_kpis(snaps.table("cramp_reports"), snaps.table("participants", command_view.KPI_PARTICIPANT_COLUMNS),
                        snaps.table("runner_status", command_view.KPI_STATUS_COLUMNS), RACE, now)
        command_view.wbgt_now(command_view.weather_with_heat(snaps), RACE, now, 1800.0)
        command_view.open_alerts(snaps.table("alerts"), RACE)
        command_view.load_by_quarter_hour(snaps.table("station_load_15m"), RACE)
        shared.freshness(snaps.manifest(), datetime.now(UTC))
        times.append(time.perf_counter() - start)
    return times


def _write_section(text: str) -> None:
    path = REPO / "docs" / "benchmarks.md"
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    if SECTION in current:
        head, rest = current.split(SECTION, 1)
        tail = rest[rest.find("\n## "):] if "\n## " in rest else ""
        current = head.rstrip() + "\n\n" + text.rstrip() + "\n" + tail
    else:
        current = current.rstrip() + "\n\n" + text.rstrip() + "\n"
    path.write_text(current)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runners", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, race_env(Path(tmp)) as settings:
        started = time.perf_counter()
        snaps = build_demo_race(settings, DEMO_NOW, runners=args.runners, hazard_scale=2.0)
        build_s = time.perf_counter() - started
        sizes = {t: snaps.table(t).height for t in ("participants", "passings", "cramp_reports", "runner_status", "alerts")}
        snapshot_dir = Path(settings.snapshot_dir)
        results = {
            "app, warm (snapshots unchanged)": _ms(_time_apptest(args.repeats, snapshot_dir, republish=False)),
            "app, after a publish (every snapshot re-read)": _ms(_time_apptest(args.repeats, snapshot_dir, republish=True)),
            "dashboard_data only, warm": _ms(_time_data(args.repeats, snapshot_dir, republish=False)),
            "dashboard_data only, after a publish": _ms(_time_data(args.repeats, snapshot_dir, republish=True)),
        }

    import polars
    import streamlit

    rows = "\n".join(
        f"| {name} | {r['median']:.0f} | {r['p95']:.0f} | {r['min']:.0f} | {r['max']:.0f} |" for name, r in results.items()
    )
    load = os.getloadavg()[0]
    worst = max(r["median"] for name, r in results.items() if name.startswith("app"))
    verdict = "within" if worst <= TARGET_MS else "OVER"
    text = f"""{SECTION}

**What is timed.** The server-side time to render the command page (KPIs, WBGT, alerts,
15-minute chart): Streamlit's `AppTest` running `dashboards/app.py` with the command page,
in-process, {args.repeats} runs after one warm-up run. This is the script run a browser
refresh (or the 5 s fragment) triggers, without network and browser drawing time. AppTest
adds its own costs (it compiles the page scripts on every run and polls for the result), so
these are upper bounds for a running server. "After a
publish" replaces every snapshot the page reads before each run, so each run reads the
Parquet files again (the first refresh after an ingest); "warm" hits the read cache. The
`dashboard_data only` rows time the page's numbers without Streamlit.

**Data.** Boston 2017 demo results replicated to {args.runners:,} runners, cut at 13:30 local
(the mass field mid-course), simulated cramp reports from the hazard model, every mart from
`marts.compute_marts` (`build_demo_race` in tests/dashboards/dashboard_fixtures.py; build
{build_s:.0f} s, not timed): {sizes['participants']:,} participants, {sizes['passings']:,} passings,
{sizes['cramp_reports']:,} reports, {sizes['runner_status']:,} runner_status rows, {sizes['alerts']} alerts.

**Command** (repository root):

```
.venv/bin/python bench/dashboard_bench.py
```

**Result** ({datetime.now(UTC):%Y-%m}, {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()},
streamlit {streamlit.__version__}, polars {polars.__version__}; load average {load:.1f} when the runs ended,
the machine being shared with other work); milliseconds:

| | median | p95 | min | max |
|---|---:|---:|---:|---:|
{rows}

Target ≤ {TARGET_MS:.0f} ms for the command page: **{verdict}** (worst median {worst:.0f} ms).
"""
    print(text)
    if not args.no_write:
        _write_section(text)


if __name__ == "__main__":
    main()
