"""A race day of faults (issue 18): Boston 2017 through the live stack while components die.

`racecramp serve` runs as a child process (its supervisor restarts whatever dies). The soak
replays the busiest stretch of Boston 2017 (`racecramp.simulate.replay`, SIMULATED cramps) at
10x real time through the intake, so the intake sees 10 times the race's peak rate, for N
minutes, while a seeded chaos loop, one fault at a time every 1-3 minutes:

- kills -9 one component's process group (intake, flows = the served Prefect flows, the
  Prefect server, the dashboard), in a seeded order, and times until it answers again and
  until the ingest publishes again;
- once, fills the landing zone's file system for a minute: the landing zone is a small tmpfs
  mounted for the soak (root and mount rights needed), filled with a filler file and freed;
- half-way, takes `racecramp backup` while everything runs (and the chaos goes on).

and all along: one station's clock runs 10 minutes ahead (its reports carry that time), the
passings of one timing mat arrive 30 minutes late and shuffled, and the senders resend a
share of their requests with the same ids (a retry after a lost answer).

At the end the warehouse is checked against everything the intake acknowledged (202): every
record exactly once, nothing quarantined (everything sent is valid), every landed batch merged
(the ingest is not stuck), alerts consistent (the ones the soak acknowledged are acknowledged,
no action rejected, published = stored); the mid-run backup restores into another data dir
identical to what it copied; the warehouse deleted and rebuilt from the landing zone has every
table as before. It prints events sent, faults injected, the
dashboard lag (the published passings' race clock behind the replay's clock), recovery per
kill and the peak memory of the stack's process tree.

    .venv/bin/python bench/soak.py                 # 30 minutes (docs/reliability.md)
    .venv/bin/python bench/soak.py --minutes 3     # what tests/integration/test_soak.py runs
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import polars as pl
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from racecramp import landing  # noqa: E402
from racecramp.config import Settings, load_settings  # noqa: E402
from racecramp.errors import RacecrampError  # noqa: E402
from racecramp.intake.tokens import new_token  # noqa: E402
from racecramp.landing.bulk import import_race  # noqa: E402
from racecramp.publish.publisher import publish_after_ingest  # noqa: E402
from racecramp.publish.snapshots import load_snapshot, read_manifest  # noqa: E402
from racecramp.simulate import replay  # noqa: E402
from racecramp.simulate.stream import KIND_PARTICIPANTS, KIND_PASSINGS, KIND_REPORTS, KIND_SURVEY, KIND_WEATHER  # noqa: E402
from racecramp.warehouse.backup import backup, restore  # noqa: E402
from racecramp.warehouse.fingerprint import differences, fingerprints  # noqa: E402
from racecramp.warehouse.rebuild import rebuild  # noqa: E402
from racecramp.warehouse.sql import query  # noqa: E402
from racecramp.warehouse.writer import open_writer  # noqa: E402

from stack import environment, write_config  # noqa: E402
from tiny_fs import fill, free, tiny_filesystem  # noqa: E402

RACE_ID = "boston-2017"
SPEED = 10.0  # race seconds per wall second: the busiest stretch arrives at 10x its real rate
LATE_MAT = "mat-30k"
LATE_BY_S = 30 * 60
LATE_JITTER_S = 120.0  # late passings are shuffled within two race minutes
CLOCK_AHEAD_S = 10 * 60
RESEND_SHARE = 0.05  # requests sent a second time with the same ids
LANDING_BYTES = 256 * 1024 * 1024
COMPONENTS = ("intake", "flows", "prefect-server", "dashboard")
RECOVERY_TIMEOUT_S = 240.0
DRAIN_TIMEOUT_S = 300.0
MAX_ALERT_ACKS = 5
SAMPLE_S = 1.0

# warehouse table and key of each kind the replay sends
KEYS = {
    KIND_PARTICIPANTS: ("stg_participants", ("race_id", "bib")),
    KIND_PASSINGS: ("stg_passings", ("race_id", "bib", "point_id")),
    KIND_REPORTS: ("stg_cramp_reports", ("report_id",)),
    KIND_SURVEY: ("stg_survey_responses", ("race_id", "bib")),
    KIND_WEATHER: ("stg_weather_observations", ("source", "location", "observed_at_utc")),
}


@dataclass
class Fault:
    kind: str  # kill, disk_full
    target: str
    at_s: float  # since the replay started
    back_s: float | None = None  # until it answered again (disk: until health was ok again)
    ingest_s: float | None = None  # until the ingest published again
    note: str = ""


@dataclass
class SoakResult:
    minutes: float
    seed: int
    landing_fs: str
    events_sent: Counter = field(default_factory=Counter)
    requests_resent: int = 0
    sender_retries: int = 0
    station_ahead: str = ""
    faults: list[Fault] = field(default_factory=list)
    lag_race_s: list[float] = field(default_factory=list)
    peak_rss_bytes: int = 0
    alerts_acknowledged: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    def lag_wall_s(self) -> list[float]:
        return [lag / SPEED for lag in self.lag_race_s]

    def summary_lines(self) -> list[str]:
        lags = sorted(self.lag_wall_s())
        p95 = lags[min(len(lags) - 1, int(0.95 * len(lags)))] if lags else float("nan")
        lines = [
            f"soak: {self.minutes:g} min at {SPEED:g}x, seed {self.seed}, wall {self.wall_s:.0f} s, landing on {self.landing_fs}",
            "events sent (acknowledged): " + ", ".join(f"{k} {n:,}" for k, n in sorted(self.events_sent.items()))
            + f"; requests resent with the same ids {self.requests_resent}; sender retries {self.sender_retries}",
            f"injected all along: {self.station_ahead} clock {CLOCK_AHEAD_S // 60} min ahead; {LATE_MAT} passings "
            f"{LATE_BY_S // 60} min late, shuffled",
        ]
        for f in self.faults:
            back = "not back" if f.back_s is None else f"{'took' if f.kind == 'backup' else 'back after'} {f.back_s:.1f} s"
            ingest = "" if f.ingest_s is None else f", ingest publishing after {f.ingest_s:.1f} s"
            lines.append(f"  t={f.at_s:6.0f} s {f.kind} {f.target}: {back}{ingest}{'; ' + f.note if f.note else ''}")
        lines.append(f"dashboard lag (published passings behind the replay clock): max {max(lags, default=float('nan')):.1f} s, "
                     f"p95 {p95:.1f} s wall ({len(lags)} samples; x{SPEED:g} in race time)")
        lines.append(f"peak memory of the stack's process tree: {self.peak_rss_bytes / 2**20:,.0f} MiB")
        lines.append("warehouse: " + ", ".join(f"{t} {n:,}" for t, n in sorted(self.counts.items())))
        lines.append(f"alerts acknowledged by the soak: {len(self.alerts_acknowledged)}")
        lines.append("RESULT: ok" if not self.problems else "RESULT: FAILED\n  " + "\n  ".join(self.problems))
        return lines


# ---------------------------------------------------------------- the stream


def busiest_window(events: list[replay.Event], race_s: float) -> tuple[datetime, datetime]:
    """The stretch of `race_s` race seconds (starting on a whole minute) holding the most race
    events (the start list, all sent at one moment before the gun, is not one)."""
    racing = [e for e in events if e[1] != KIND_PARTICIPANTS]
    t0 = racing[0][0]
    offsets = [(emit - t0).total_seconds() for emit, _, _ in racing]
    starts = range(0, max(1, int(offsets[-1] - race_s) + 1), 60)
    best = max(starts, key=lambda s: bisect.bisect_left(offsets, s + race_s) - bisect.bisect_left(offsets, s))
    return t0 + timedelta(seconds=best), t0 + timedelta(seconds=best + race_s)


def soak_stream(events: list[replay.Event], start: datetime, end: datetime, rng: random.Random) -> tuple[list[replay.Event], str]:
    """The window's events with the faults of the feeds built in, plus the start list and the
    weather before the window (sent first). Returns (events, the station whose clock is ahead)."""
    window = [e for e in events if start <= e[0] < end]
    reports_at = Counter(r["point_id"] for _, k, r in window if k == KIND_REPORTS)
    station = reports_at.most_common(1)[0][0] if reports_at else ""
    out: list[replay.Event] = [(start, k, r) for emit, k, r in events if emit < start and k in (KIND_PARTICIPANTS, KIND_WEATHER)]
    for emit, kind, record in window:
        if kind == KIND_REPORTS and record["point_id"] == station:
            ahead = datetime.fromisoformat(record["reported_at_utc"]) + timedelta(seconds=CLOCK_AHEAD_S)
            record = {**record, "reported_at_utc": ahead.isoformat()}
        if kind == KIND_PASSINGS and record["point_id"] == LATE_MAT:
            emit = min(end - timedelta(seconds=1), emit + timedelta(seconds=LATE_BY_S + rng.uniform(0, LATE_JITTER_S)))
        out.append((emit, kind, record))
    out.sort(key=lambda e: e[0])
    return out, station


class AcknowledgedSender(replay.IntakeSender):
    """The replay's sender, remembering every record acknowledged (a tick's `send` returns only
    when every request of it got 202) and resending a share of the ticks with the same ids."""

    def __init__(self, url: str, tokens: dict[str, str], rng: random.Random):
        super().__init__(url, tokens)
        self.rng = rng
        self.acknowledged: dict[str, list[dict]] = {kind: [] for kind in KEYS}
        self.resent = 0

    def send(self, events: list[replay.Event]) -> None:
        super().send(events)
        for _, kind, record in events:
            self.acknowledged[kind].append(record)
        if self.rng.random() < RESEND_SHARE:
            sent_before = Counter(self.sent)
            super().send(events)
            self.sent = sent_before  # `sent` counts events, not requests
            self.resent += 1


# ---------------------------------------------------------------- the stack


def health_urls(settings: Settings) -> dict[str, str]:
    return {
        "intake": f"http://{settings.intake_host}:{settings.intake_port}/v1/health",
        "prefect-server": f"http://127.0.0.1:{settings.prefect_port}/api/health",
        "dashboard": f"http://{settings.dashboard_host}:{settings.dashboard_port}/_stcore/health",
    }


def answers(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2.0).status_code
    except httpx.HTTPError:
        return None


# each component's command line, as the supervisor starts it (orchestration.supervisor.start_stack)
MARKERS = {
    "prefect-server": ("prefect", "server", "start"),
    "flows": ("racecramp.orchestration.deployments",),
    "intake": ("racecramp.cli", "intake"),
    "dashboard": ("streamlit", "run"),
}


def component_pid(serve: psutil.Process, name: str) -> int | None:
    """The pid of the supervisor's child running `name` (a session leader: its group is its pid)."""
    for proc in serve.children(recursive=False):
        try:
            cmdline = proc.cmdline()
        except psutil.NoSuchProcess:
            continue
        if all(any(marker in part for part in cmdline) for marker in MARKERS[name]):
            return proc.pid
    return None


def tree_rss(serve: psutil.Process) -> int:
    total = 0
    for proc in [serve, *serve.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def published_at(settings: Settings) -> datetime | None:
    manifest = read_manifest(settings.snapshot_dir) or {}
    stamp = manifest.get("published_at_utc")
    return datetime.fromisoformat(stamp) if stamp else None


# ---------------------------------------------------------------- the soak


class Soak:
    def __init__(self, settings: Settings, tokens: dict[str, str], serve: psutil.Process, result: SoakResult,
                 rng: random.Random, window_start: datetime, window_end: datetime):
        self.settings, self.tokens, self.serve, self.result, self.rng = settings, tokens, serve, result, rng
        self.window_start, self.window_end = window_start, window_end
        self.started = time.monotonic()
        self.replay_done = threading.Event()
        self.stop = threading.Event()
        self.acked_alerts: list[str] = []
        self.backup_dir = Path(settings.data_dir).parent / "backup"

    def guarded(self, work, *args) -> None:
        """Run a thread's work; an exception in it is a problem of the soak, not a silent death."""
        try:
            work(*args)
        except Exception as exc:  # noqa: BLE001 - reported with its type and message
            self.result.problems.append(f"{work.__name__} failed: {type(exc).__name__}: {exc}")

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def replay_clock(self) -> datetime:
        return min(self.window_end, self.window_start + timedelta(seconds=self.elapsed() * SPEED))

    # -- monitor: lag, memory, alert acknowledgements --

    def monitor(self) -> None:
        next_ack = 0.0
        while not self.stop.is_set():
            self.result.peak_rss_bytes = max(self.result.peak_rss_bytes, tree_rss(self.serve))
            if not self.replay_done.is_set():
                passings = load_snapshot(self.settings.snapshot_dir, "passings", columns=("passed_at_utc",))
                if passings is not None and passings.height:
                    shown = passings["passed_at_utc"].max()
                    if shown is not None and shown >= self.window_start:
                        self.result.lag_race_s.append(max(0.0, (self.replay_clock() - shown).total_seconds()))
            if self.elapsed() >= next_ack:
                self.acknowledge_an_alert()
                next_ack = self.elapsed() + 20.0
            self.stop.wait(SAMPLE_S)

    def acknowledge_an_alert(self) -> None:
        """The medical director acknowledges an open alert now and then (POST as command)."""
        if len(self.acked_alerts) >= MAX_ALERT_ACKS:
            return
        alerts = load_snapshot(self.settings.snapshot_dir, "alerts")
        if alerts is None:
            return
        open_ = [a for a in alerts.filter(pl.col("status") == "open")["alert_id"].to_list() if a not in self.acked_alerts]
        if not open_:
            return
        url = f"http://{self.settings.intake_host}:{self.settings.intake_port}/v1/alerts/{open_[0]}/actions"
        try:
            answer = httpx.post(url, json={"action": "acknowledge", "by": "command"},
                                headers={"Authorization": f"Bearer {self.tokens['command']}"}, timeout=10.0)
        except httpx.HTTPError:
            return  # the intake may be down right now: try again later
        if answer.status_code == 202:
            self.acked_alerts.append(open_[0])
        elif answer.status_code < 500:
            self.result.problems.append(f"acknowledging alert {open_[0]}: intake answered {answer.status_code}: {answer.text[:200]}")

    # -- chaos --

    def chaos(self, kill_every_s: tuple[float, float], disk_full_s: float, landing_dir: Path) -> None:
        order = list(COMPONENTS)
        self.rng.shuffle(order)
        plan = [("kill", order[i % len(order)]) for i in range(1000)]
        plan.insert(1, ("disk_full", "landing"))
        for kind, target in plan:
            if self.stop.wait(self.rng.uniform(*kill_every_s)) or self.replay_done.is_set():
                return
            if kind == "kill":
                self.kill(target)
            else:
                self.fill_landing(landing_dir, disk_full_s)

    def take_backup(self, after_s: float) -> None:
        """`racecramp backup` while everything runs, whatever the chaos loop does meanwhile
        (restored and compared at the end)."""
        if self.stop.wait(after_s):
            return
        fault = Fault("backup", "data dir", self.elapsed())
        self.result.faults.append(fault)
        began = time.monotonic()
        taken = backup(self.settings, self.backup_dir)
        fault.back_s = time.monotonic() - began
        fault.note = f"{taken.tables} tables, {taken.batches} landing batches (the ingest waited on the writer lock meanwhile)"

    def kill(self, name: str) -> None:
        pid = component_pid(self.serve, name)
        fault = Fault("kill -9", name, self.elapsed())
        self.result.faults.append(fault)
        if pid is None:
            fault.note = "not running at the time (still restarting?)"
            return
        killed_at, killed_wall = time.monotonic(), datetime.now(UTC)
        os.killpg(pid, signal.SIGKILL)
        url = health_urls(self.settings).get(name)
        deadline = killed_at + RECOVERY_TIMEOUT_S
        while time.monotonic() < deadline and fault.back_s is None:
            new_pid = component_pid(self.serve, name)
            if new_pid is not None and new_pid != pid and (url is None or (answers(url) or 500) < 500):
                fault.back_s = time.monotonic() - killed_at
            else:
                time.sleep(0.2)
        while time.monotonic() < deadline and fault.ingest_s is None:
            shown = published_at(self.settings)
            if shown is not None and shown > killed_wall:
                fault.ingest_s = time.monotonic() - killed_at
            else:
                time.sleep(0.2)
        if fault.back_s is None or fault.ingest_s is None:
            self.result.problems.append(f"{name} killed at t={fault.at_s:.0f} s: not back (or the ingest not publishing) "
                                        f"within {RECOVERY_TIMEOUT_S:.0f} s")

    def fill_landing(self, landing_dir: Path, hold_s: float) -> None:
        fault = Fault("disk full", "landing", self.elapsed())
        self.result.faults.append(fault)
        url = health_urls(self.settings)["intake"]
        fill(landing_dir)
        said_failing = False
        until = time.monotonic() + hold_s
        while time.monotonic() < until:
            said_failing = said_failing or answers(url) == 503
            time.sleep(1.0)
        free(landing_dir)
        freed = time.monotonic()
        while time.monotonic() < freed + RECOVERY_TIMEOUT_S and answers(url) != 200:
            time.sleep(0.2)
        fault.back_s = time.monotonic() - freed
        fault.note = f"{hold_s:.0f} s full; /v1/health said 503 meanwhile: {'yes' if said_failing else 'NO'}"
        if not said_failing:
            self.result.problems.append("the landing disk was full but /v1/health never answered 503")


def _key_value(column: str, value):
    return datetime.fromisoformat(value).astimezone(UTC) if column == "observed_at_utc" else str(value)


def _key_column(column: str) -> str:
    return f"CAST({column} AS VARCHAR) AS {column}" if column == "report_id" else column


def check_warehouse(settings: Settings, sender: AcknowledgedSender, acked_alerts: list[str], station: str) -> tuple[list[str], dict[str, int]]:
    """Everything acknowledged is in the warehouse exactly once; nothing quarantined; alerts consistent."""
    problems = []
    counts: dict[str, int] = {}
    with open_writer(settings.warehouse_path) as con:
        for kind, (table, key) in KEYS.items():
            sent = sender.acknowledged[kind]
            if not sent:
                continue
            acked = pl.DataFrame([{k: _key_value(k, r[k]) for k in key} for r in sent]).unique()
            stored = query(con, f"SELECT {', '.join(_key_column(k) for k in key)} FROM {table}")
            if "observed_at_utc" in key:
                stored = stored.with_columns(pl.col("observed_at_utc").dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
                acked = acked.with_columns(pl.col("observed_at_utc").dt.cast_time_unit("us"))
            counts[table] = stored.height
            missing = acked.join(stored, on=list(key), how="anti")
            extra = stored.join(acked, on=list(key), how="anti")
            doubled = stored.height - stored.unique().height
            if missing.height:
                problems.append(f"{table}: {missing.height} acknowledged record(s) missing, e.g. {missing.row(0, named=True)}")
            if extra.height:
                problems.append(f"{table}: {extra.height} record(s) never acknowledged, e.g. {extra.row(0, named=True)}")
            if doubled:
                problems.append(f"{table}: {doubled} record(s) stored more than once")
        if station:
            sent_times = {r["report_id"]: datetime.fromisoformat(r["reported_at_utc"]) for r in sender.acknowledged[KIND_REPORTS]
                          if r["point_id"] == station}
            stored_times = query(con, "SELECT CAST(report_id AS VARCHAR) AS report_id, reported_at_utc FROM stg_cramp_reports "
                                      "WHERE point_id = ?", [station])
            moved = [rid for rid, at in stored_times.iter_rows() if rid in sent_times and at != sent_times[rid]]
            if moved:
                problems.append(f"{len(moved)} report(s) of {station} (clock ahead) not stored with the time sent")
        quarantined = query(con, 'SELECT "check", count(*) AS n FROM quarantine GROUP BY 1 ORDER BY n DESC')
        if quarantined.height:
            problems.append(f"quarantine holds {int(quarantined['n'].sum())} record(s) that were valid: "
                            + ", ".join(f"{c} {n}" for c, n in quarantined.iter_rows()))
        landed = {b.batch_id for b in landing.list_batches(settings.landing_dir)}
        merged = {r[0] for r in con.sql("SELECT batch_id FROM landing_log").fetchall()}
        if landed - merged:
            problems.append(f"ingest stuck: {len(landed - merged)} of {len(landed)} landed batches not merged")
        alerts = query(con, "SELECT alert_id, status, acknowledged_by FROM alerts")
        counts["alerts"] = alerts.height
        if alerts.height != alerts["alert_id"].n_unique():
            problems.append("alerts: an alert_id appears twice")
        status = dict(zip(alerts["alert_id"], alerts["status"]))
        not_acked = [a for a in acked_alerts if status.get(a) not in ("acknowledged", "resolved")]
        if not_acked:
            problems.append(f"alerts acknowledged (202) but not acknowledged in the warehouse: {', '.join(not_acked)}")
        actions = query(con, "SELECT count(*) AS n FROM stg_alert_actions")["n"][0]
        if actions != len(acked_alerts):
            problems.append(f"stg_alert_actions holds {actions} action(s); the soak had {len(acked_alerts)} acknowledged")
        rejected = query(con, "SELECT * FROM alert_actions_rejected")
        if rejected.height:
            problems.append(f"{rejected.height} alert action(s) rejected: {rejected['reason'][0]}")
        published = load_snapshot(settings.snapshot_dir, "alerts")
        if published is None or sorted(published["alert_id"].to_list()) != sorted(alerts["alert_id"].to_list()):
            problems.append("the published alerts differ from the warehouse's")
    return problems, counts


def wait_drained(settings: Settings, timeout_s: float) -> bool:
    """Until every landed batch is merged and published (the manifest counts them)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        landed = len(landing.list_batches(settings.landing_dir))
        if int((read_manifest(settings.snapshot_dir) or {}).get("batches_ingested", -1)) >= landed:
            return True
        time.sleep(1.0)
    return False


def stop_serve(serve_process: subprocess.Popen, serve: psutil.Process) -> None:
    """SIGTERM to `racecramp serve` (it stops its children); SIGKILL what is left after 60 s."""
    started = {p.pid: p for p in serve.children(recursive=True)}
    serve_process.send_signal(signal.SIGTERM)
    try:
        serve_process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        serve_process.kill()
        serve_process.wait()
    for proc in started.values():
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue


def _settings_from(config: Path) -> Settings:
    """The soak's settings, read from its racecramp.toml, leaving this process's environment as it was."""
    with environment(RACECRAMP_CONFIG=str(config), RACECRAMP_DATA_DIR=None):
        return load_settings()


def run_soak(minutes: float = 30.0, seed: int = 2017, workdir: Path | None = None,
             kill_every_s: tuple[float, float] = (60.0, 180.0), disk_full_s: float = 60.0,
             say=print) -> SoakResult:
    """The soak on a fresh data dir under `workdir`; returns what it measured and the problems found."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="racecramp-soak-"))
    rng = random.Random(seed)
    result = SoakResult(minutes, seed, f"tmpfs of {LANDING_BYTES // 2**20} MiB mounted on <data_dir>/landing")
    source = replay.load_shipped_source(RACE_ID)
    events = replay.build_events(source, seed)
    start, end = busiest_window(events, minutes * 60 * SPEED)
    stream, result.station_ahead = soak_stream(events, start, end, rng)
    say(f"replaying {len(stream):,} events of {RACE_ID} {start:%H:%M}-{end:%H:%M} UTC at {SPEED:g}x in {workdir}")
    tokens = {principal: new_token() for principal in replay.race_principals(source.races, source.course)}  # in memory only
    config = write_config(workdir, tokens=tokens)
    env = {**os.environ, "RACECRAMP_CONFIG": str(config), "RACECRAMP_COMMAND_TOKEN": tokens["command"]}
    env.pop("RACECRAMP_DATA_DIR", None)
    env.pop("PREFECT_API_URL", None)  # the stack's own Prefect server, set by serve
    settings = _settings_from(config)
    started = time.monotonic()
    with tiny_filesystem(settings.landing_dir, LANDING_BYTES) as landing_dir:
        import_race(settings, source.race_path)
        log = open(workdir / "serve.log", "ab")
        serve_process = subprocess.Popen([sys.executable, "-m", "racecramp.cli", "serve"], env=env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        serve = psutil.Process(serve_process.pid)
        try:
            deadline = time.monotonic() + 240
            while any((answers(u) or 500) >= 500 for u in health_urls(settings).values()):
                if time.monotonic() > deadline or serve_process.poll() is not None:
                    raise RuntimeError(f"the stack did not come up; see {workdir / 'serve.log'}")
                time.sleep(1.0)
            say("stack up; replay and chaos start")
            sender = AcknowledgedSender(f"http://{settings.intake_host}:{settings.intake_port}", tokens, rng)
            soak = Soak(settings, tokens, serve, result, random.Random(seed + 1), start, end)
            threads = [threading.Thread(target=soak.guarded, args=(soak.monitor,), daemon=True),
                       threading.Thread(target=soak.guarded, args=(soak.chaos, kill_every_s, disk_full_s, landing_dir), daemon=True),
                       threading.Thread(target=soak.guarded, args=(soak.take_backup, minutes * 60 / 2), daemon=True)]
            for t in threads:
                t.start()
            try:
                replay.run(stream, sender.send, SPEED)
            except replay.ReplayError as exc:
                result.problems.append(f"replay stopped: {exc}")
            finally:
                soak.replay_done.set()
                sender.close()
            result.events_sent = Counter({k: len(v) for k, v in sender.acknowledged.items() if v})
            result.requests_resent, result.sender_retries = sender.resent, sender.retries
            say("replay done; waiting for the chaos loop's last fault to recover and the ingest to drain")
            threads[1].join(timeout=RECOVERY_TIMEOUT_S + disk_full_s + 30)
            threads[2].join(timeout=RECOVERY_TIMEOUT_S)
            if not wait_drained(settings, DRAIN_TIMEOUT_S):
                result.problems.append(f"ingest stuck: landed batches not all merged {DRAIN_TIMEOUT_S:.0f} s after the replay")
            soak.stop.set()
            threads[0].join(timeout=30)
            result.alerts_acknowledged = list(soak.acked_alerts)
        finally:
            stop_serve(serve_process, serve)
            log.close()
        result.wall_s = time.monotonic() - started
        problems, result.counts = check_warehouse(settings, sender, result.alerts_acknowledged, result.station_ahead)
        result.problems += problems
        result.problems += check_recoverable(settings, soak.backup_dir, workdir / "restored")
    return result


def check_recoverable(settings: Settings, backup_dir: Path, restore_into: Path) -> list[str]:
    """The backup taken mid-run restores into another data dir identical to the warehouse it
    copied (restore checks every table), and the warehouse deleted and rebuilt from the
    landing zone has every table as before (after a full publish: marts with a refresh
    interval, the survey model, may lag a live cycle by design)."""
    problems = []
    if not (backup_dir / "backup.json").exists():
        problems.append("no backup was taken during the run (too short for the chaos plan?)")
    else:
        try:
            restore(load_settings(data_dir=restore_into / "var"), backup_dir)
        except RacecrampError as exc:
            problems.append(f"restore: {exc}")
    with open_writer(settings.warehouse_path) as con:
        publish_after_ingest(con, settings, None)
        before = fingerprints(con)
    settings.warehouse_path.unlink()
    rebuild(settings)
    with open_writer(settings.warehouse_path) as con:
        problems += [f"rebuild: {line}" for line in differences(before, fingerprints(con))]
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long the replay runs (default 30)")
    parser.add_argument("--seed", type=int, default=2017)
    parser.add_argument("--workdir", type=Path, default=None, help="where the data dir goes (default: a new temp folder)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    result = run_soak(args.minutes, args.seed, args.workdir)
    print("\n".join(result.summary_lines()))
    if args.json:
        args.json.write_text(json.dumps({
            "minutes": result.minutes, "seed": result.seed, "events_sent": dict(result.events_sent),
            "requests_resent": result.requests_resent, "faults": [f.__dict__ for f in result.faults],
            "lag_wall_s": result.lag_wall_s(), "peak_rss_bytes": result.peak_rss_bytes, "problems": result.problems,
            "counts": result.counts, "wall_s": result.wall_s}, indent=2, default=str))
    return 0 if not result.problems else 1


if __name__ == "__main__":
    sys.exit(main())
