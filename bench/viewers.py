"""Many viewers (issue 15, point 4): the command page open in N browsers while the live cycle runs at race peak.

Run from the repository root (one command; with the defaults, 0,1,5,10 viewers and 40 s
measured each, about 7 minutes on the 2-core machine; the run in docs/benchmarks.md, below,
took 14 minutes, 3 of them opening the 20 viewers):
    .venv/bin/python bench/viewers.py
    .venv/bin/python bench/viewers.py --viewers 0,1,5,10,20,0 --warmup-s 15 --load-s 60 --drain-s 60

Setup (bench/latency_race.py, reused): in a temporary directory the Boston 2017 course and
weather and the 50,000-runner race of bench/scaleup.py are preloaded into the warehouse and
published once (not timed); the real intake runs on loopback. Then the real dashboard is
started as `racecramp serve` starts it (`streamlit run` of the packaged app, loopback, the
same data dir; the command token in RACECRAMP_COMMAND_TOKEN as tests/stack.py replay_stack
sets it). One Debian Chromium (Playwright, tests/browser.py) is started with the
background-throttling switches off (every screen in the tent is in the foreground).

For each viewer count N of --viewers, in this order, in the same run:
1. N browser contexts, one page each, open the Command page and wait until its "Total"
   metric (exact label) shows the reports in the published snapshot;
2. a drain child with the live cycle (`drain(..., incremental=True)`, latency_race.run_drain)
   and the race-peak load of latency_race.Load: 25 passings every 0.5 s and one report
   every 3 s, each report for a runner without one (so the Total goes up by one per report);
3. after --warmup-s, --load-s of load are measured, then up to --drain-s for the last
   reports to show.

Measured (the pages record in the browser, with the wall clock, what the server sends and
what they draw; nothing is read from the screen by polling from Python):
- page refresh: the command page reruns its live part every 5 s (st.fragment run_every):
  the browser sends the rerun, the server runs the fragment and sends its elements, then
  `script_finished`. Refresh time = rerun sent -> script_finished received (the decoded
  Streamlit BackMsg / ForwardMsg frames of each page's WebSocket); also the gap between
  successive refreshes a viewer gets;
- report -> visible: for each report acknowledged by the intake (202) in the measured
  window, the time until each viewer's Total shows it (a MutationObserver in the page, on
  the DOM: what is painted at the next frame);
- report -> cramp_reports snapshot: as latency_race measures it (first 0.1 s poll of
  snapshots/cramp_reports.parquet that holds it), with the viewers open: the effect of the
  viewers on report latency is its ratio to the same figure at 0 viewers of the same run;
- CPU over the measured window, in cores: the Streamlit process, the browser (Playwright
  driver and every Chromium process), the drain child and its mart builders, the intake,
  this process (load and watcher), and the whole machine (it is shared).
Printed last: one table row per viewer count, then the ratios against 0 viewers.
The browser runs on the same 2 cores as the server: in a tent the screens are other devices,
so the CPU the browser takes here is a cost the server does not have there.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT / "tests"))

import latency_race as race  # noqa: E402

from racecramp.dashboard import ui  # noqa: E402

from browser import CHROMIUM_ARGS, DESKTOP, RENDER_TIMEOUT_MS, metric_text  # noqa: E402
from stack import TOKENS  # noqa: E402

RACE_ID = "boston-2017"
LOAD = "peak"
REFRESH_S = float(ui.REFRESH_EVERY.removesuffix("s"))  # the command page's st.fragment(run_every=...)
KEPT = 0.9  # a viewer count is driven when each viewer gets at least this share of the refreshes due
COLLECT_S = 1.0  # how often the pages' records are fetched (they are timed in the page, not here)
OPEN_TIMEOUT_S = 90.0
NO_THROTTLING = ["--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                 "--disable-backgrounding-occluded-windows"]
SMALL_FRAME = 512  # bytes: received frames up to this size are kept (script_finished is ~50)
# In the page, before Streamlit's own scripts: every WebSocket frame sent, every small frame
# received (base64, with Date.now()), and each change of the Total metric's value.
RECORDER_JS = """
(() => {
  const frames = [];
  const totals = [];
  const b64 = (buf) => {
    const u = new Uint8Array(buf);
    let s = "";
    for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode.apply(null, u.subarray(i, i + 0x8000));
    return btoa(s);
  };
  const bytes = (data) => data instanceof ArrayBuffer ? data
    : ArrayBuffer.isView(data) ? data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) : null;
  const Native = window.WebSocket;
  class Recorded extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => {
        const t = Date.now();
        const small = e.data instanceof ArrayBuffer && e.data.byteLength <= SMALL_FRAME;
        frames.push([t, "received", small ? b64(e.data) : null]);
      });
    }
    send(data) {
      const buf = bytes(data);
      frames.push([Date.now(), "sent", buf === null ? null : b64(buf)]);
      return super.send(data);
    }
  }
  window.WebSocket = Recorded;
  const labelled = (metric) => {
    const label = metric.querySelector('[data-testid="stMetricLabel"]');
    return label !== null && [label, ...label.querySelectorAll("*")].some((e) => e.textContent.trim() === "Total");
  };
  const total = () => {
    for (const metric of document.querySelectorAll('[data-testid="stMetric"]')) {
      if (labelled(metric)) {
        const value = metric.querySelector('[data-testid="stMetricValue"]');
        return value === null ? null : value.textContent.trim();
      }
    }
    return null;
  };
  let last = null;
  const check = () => {
    const now = total();
    if (now !== last) { last = now; totals.push([Date.now(), now]); }
  };
  const observe = () => new MutationObserver(check).observe(document.body, {childList: true, subtree: true, characterData: true});
  if (document.body) observe(); else document.addEventListener("DOMContentLoaded", observe);
  window.__viewerTake = () => ({frames: frames.splice(0), totals: totals.splice(0), shown: last,
                                 visibility: document.visibilityState});
})();
""".replace("SMALL_FRAME", str(SMALL_FRAME))


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _count(text: str | None) -> int | None:
    """The Total as drawn ('1,234') as a number; None while it shows no number."""
    if text is None:
        return None
    digits = text.replace(",", "")
    return int(digits) if digits.isdigit() else None


def published_total(snapshot_dir: Path) -> int:
    """The Total the command page shows for these snapshots (views.command: counted reports of the race)."""
    from racecramp.publish.snapshots import load_snapshot
    from racecramp.views import shared

    return shared.medical_reports(load_snapshot(snapshot_dir, "cramp_reports"), RACE_ID).height


@dataclass
class Viewer:
    """One browser context with the Command page; what it recorded, decoded."""

    page: object
    totals: list[tuple[float, int | None]] = field(default_factory=list)  # (epoch s, Total shown)
    refreshes: list[tuple[float, float]] = field(default_factory=list)  # (epoch s rerun sent, seconds to finished)
    pending: float | None = None  # a fragment rerun sent, its script_finished not yet received
    overlapped: int = 0  # reruns sent while the previous one had not finished
    early: int = 0  # runs ended early for a newer rerun
    undecoded: int = 0  # sent frames that were not binary (none expected)
    visibility: set[str] = field(default_factory=set)

    def take(self) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        out = self.page.evaluate("() => window.__viewerTake()")
        self.visibility.add(out["visibility"])
        self.totals += [(t / 1000, _count(text)) for t, text in out["totals"]]
        for t_ms, direction, data in out["frames"]:
            t = t_ms / 1000
            if direction == "sent":
                if data is None:
                    self.undecoded += 1
                    continue
                msg = BackMsg.FromString(base64.b64decode(data))
                if msg.WhichOneof("type") == "rerun_script" and msg.rerun_script.fragment_id:
                    if self.pending is not None:
                        self.overlapped += 1
                    self.pending = t
            elif data is not None:
                msg = ForwardMsg.FromString(base64.b64decode(data))
                if msg.WhichOneof("type") != "script_finished":
                    continue
                if msg.script_finished == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY and self.pending is not None:
                    self.refreshes.append((self.pending, t - self.pending))
                    self.pending = None
                elif msg.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    self.early += 1

    def shown(self) -> int | None:
        return self.totals[-1][1] if self.totals else None

    def first_at_least(self, count: int) -> float | None:
        return next((t for t, n in self.totals if n is not None and n >= count), None)


def open_viewer(browser, url: str, total: int) -> Viewer:
    """A new context on the Command page, once its Total shows `total` (checked with the exact-label locator too)."""
    context = browser.new_context(viewport=DESKTOP)
    context.add_init_script(RECORDER_JS)
    page = context.new_page()
    page.set_default_timeout(RENDER_TIMEOUT_MS)
    page.goto(url)
    viewer = Viewer(page)
    deadline = time.monotonic() + OPEN_TIMEOUT_S
    while viewer.shown() != total:
        if time.monotonic() > deadline:
            raise RuntimeError(f"a viewer's Total showed {viewer.shown()} after {OPEN_TIMEOUT_S:.0f} s, "
                               f"the snapshot holds {total}")
        page.wait_for_timeout(200)
        viewer.take()
    drawn = _count(metric_text(page, "Total"))
    if drawn != total:
        raise RuntimeError(f"the page recorder read Total {total}, the exact-label locator reads {drawn}")
    return viewer


class Cpu:
    """CPU seconds of process trees (each process with its reaped children, and its live descendants)."""

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots = roots
        self.me = psutil.Process()

    @staticmethod
    def _tree_s(pid: int) -> float:
        root = psutil.Process(pid)
        total = 0.0
        for proc in [root, *root.children(recursive=True)]:
            try:
                t = proc.cpu_times()
            except psutil.NoSuchProcess:  # ended between listing and reading: its parent has its time once reaped
                continue
            total += t.user + t.system + t.children_user + t.children_system
        return total

    def sample(self) -> dict[str, float]:
        out = {name: self._tree_s(pid) for name, pid in self.roots.items()}
        mine = self.me.cpu_times()
        out["bench"] = mine.user + mine.system  # this process only: its children are the roots above
        t = psutil.cpu_times()
        out["machine"] = t.user + t.nice + t.system + t.irq + t.softirq + t.steal
        return out


def _figures(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return (float("nan"),) * 3
    return race._figures(values)


@dataclass
class PhaseResult:
    viewers: int
    reports: int
    to_snapshot: list[float]
    not_in_snapshot: int
    visible: list[float]
    not_visible: int
    refresh_s: list[float]
    gaps_s: list[float]
    refreshes_per_min: float
    overlapped: int
    early: int
    undecoded: int
    cpu_cores: dict[str, float]
    loadavg: tuple[str, str]


def run_phase(browser, url: str, config: Path, settings, base: str, n: int, args, bibs: list[str], first_bib: int,
              first_report: int, roots: dict[str, int]) -> PhaseResult:
    load_before = _loadavg()
    total = published_total(settings.snapshot_dir)
    t = time.monotonic()
    viewers = [open_viewer(browser, url, total) for _ in range(n)]
    if n:
        print(f"  {n} viewers showing Total {total} after {time.monotonic() - t:.0f} s", flush=True)
    per_tick, every_s = race.LOADS[LOAD]
    child = race.run_drain(config, "incremental", args.warmup_s + args.load_s + args.drain_s + 30)
    load = race.Load(base, per_tick, every_s, bibs, first_bib, first_report)
    seen_reports: dict[str, float] = {}
    seen_status: dict[str, float] = {}
    stop_watch = threading.Event()
    watcher = threading.Thread(target=race.watch, args=(settings.snapshot_dir, load, stop_watch, seen_reports, seen_status),
                               daemon=True)
    cpu = Cpu({**roots, "drain": child.pid})

    def collect_for(seconds: float, done=lambda: False) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not done() and not load.errors:
            for viewer in viewers:
                viewer.take()
            time.sleep(COLLECT_S)

    try:
        watcher.start()
        threads = load.start()
        collect_for(args.warmup_s)
        load.measure.set()
        cpu0, w0 = cpu.sample(), time.monotonic()
        window0 = time.time()
        collect_for(args.load_s)
        load.stop.set()
        cpu1, w1 = cpu.sample(), time.monotonic()
        window1 = time.time()
        for thread in threads:
            thread.join()
        if load.errors:
            raise load.errors[0]
        posted = load.reports - first_report
        final = total + posted

        def all_shown() -> bool:
            return len(seen_reports) == len(load.acked) and all(v.shown() == final for v in viewers)

        collect_for(args.drain_s, all_shown)
        for viewer in viewers:
            viewer.take()
        stop_watch.set()
        watcher.join()
        for viewer in viewers:
            if viewer.page.locator('[data-testid="stException"]').count():
                raise RuntimeError(f"a viewer shows a Streamlit exception: "
                                   f"{viewer.page.locator('[data-testid=stException]').first.inner_text()[:500]}")
    finally:
        stop_watch.set()
        load.stop.set()
        child.terminate()
        child.wait(timeout=60)
        for viewer in viewers:
            viewer.page.context.close()
    offset = time.time() - time.monotonic()  # ack times are monotonic, the pages' are the wall clock
    to_snapshot = [seen_reports[r] - ack for r, (ack, _, _) in load.acked.items() if r in seen_reports]
    visible: list[float] = []
    not_visible = 0
    for ack, _, reported_at in load.acked.values():
        index = round((reported_at - race.START - timedelta(hours=4)).total_seconds())  # latency_race._report's i
        wanted = total + index - first_report + 1
        for viewer in viewers:
            at = viewer.first_at_least(wanted)
            if at is None:
                not_visible += 1
            else:
                visible.append(at - (ack + offset))
    in_window = [(sent, s) for v in viewers for sent, s in v.refreshes if window0 <= sent <= window1]
    done = [[sent + s for sent, s in v.refreshes] for v in viewers]  # when each refresh's elements had all arrived
    gaps = [b - a for finished in done for a, b in zip(finished, finished[1:]) if window0 <= a and b <= window1]
    hidden = {state for v in viewers for state in v.visibility} - {"visible"}
    if hidden:
        raise RuntimeError(f"a viewer's page was not visible ({hidden}): its timers would be throttled")
    seconds = w1 - w0
    print(f"  {n} viewers: {len(load.acked)} reports measured, {len(in_window)} refreshes in {seconds:.0f} s; "
          f"loadavg {load_before} -> {_loadavg()}", flush=True)
    return PhaseResult(
        viewers=n, reports=len(load.acked), to_snapshot=to_snapshot, not_in_snapshot=len(load.acked) - len(to_snapshot),
        visible=visible, not_visible=not_visible, refresh_s=[s for _, s in in_window], gaps_s=gaps,
        refreshes_per_min=len(in_window) / n / seconds * 60 if n else float("nan"),
        overlapped=sum(v.overlapped for v in viewers), early=sum(v.early for v in viewers),
        undecoded=sum(v.undecoded for v in viewers),
        cpu_cores={k: (cpu1[k] - cpu0[k]) / seconds for k in cpu0}, loadavg=(load_before, _loadavg()),
    )


def start_dashboard(settings, env: dict[str, str], log_dir: Path):
    """The dashboard as `racecramp serve` starts it (supervisor.start_stack), on this data dir."""
    from racecramp.config import COMMAND_TOKEN_ENV
    from racecramp.orchestration.supervisor import Child, _launch, dashboard_entry

    dashboard = Child("dashboard", [sys.executable, "-m", "streamlit", "run", str(dashboard_entry()), "--server.headless", "true",
                                    "--server.address", settings.dashboard_host, "--server.port", str(settings.dashboard_port),
                                    "--client.toolbarMode", "viewer", "--browser.gatherUsageStats", "false"],
                      f"http://{settings.dashboard_host}:{settings.dashboard_port}/_stcore/health")
    dashboard.log_path = log_dir / "dashboard.log"
    _launch(dashboard, {**env, COMMAND_TOKEN_ENV: TOKENS["command"]})
    return dashboard


def _f(values: tuple[float, float, float]) -> str:
    return " / ".join("—" if v != v else f"{v:.2f}" for v in values)


def print_table(results: list[PhaseResult], versions: str) -> None:
    print()
    print(f"Command page with N viewers, race-peak load, live cycle ({versions}); seconds p50 / p95 / max;")
    print("CPU in cores over the measured window (streamlit / browser / drain / intake / bench; whole machine)")
    print("| viewers | reports | report -> cramp_reports | report -> visible (each viewer) | not shown "
          "| page refresh (rerun -> finished) | gap between refreshes (finished -> finished) | refreshes/min/viewer "
          "| CPU streamlit / browser / drain / intake / bench | machine | loadavg before -> after |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        c = r.cpu_cores
        print(f"| {r.viewers} | {r.reports} | {_f(_figures(r.to_snapshot))} | {_f(_figures(r.visible))} "
              f"| {r.not_visible + r.not_in_snapshot} | {_f(_figures(r.refresh_s))} | {_f(_figures(r.gaps_s))} "
              f"| {'—' if r.refreshes_per_min != r.refreshes_per_min else f'{r.refreshes_per_min:.1f}'} "
              f"| {c['streamlit']:.2f} / {c['browser']:.2f} / {c['drain']:.2f} / {c['intake']:.2f} / {c['bench']:.2f} "
              f"| {c['machine']:.2f} | {r.loadavg[0]} -> {r.loadavg[1]} |")
    zero = next((r for r in results if r.viewers == 0), None)
    one = next((r for r in results if r.viewers == 1), None)
    print()
    for r in results:
        notes = []
        if zero is not None and r is not zero and r.to_snapshot and zero.to_snapshot:
            p50, p95 = _figures(r.to_snapshot)[:2]
            z50, z95 = _figures(zero.to_snapshot)[:2]
            notes.append(f"report -> cramp_reports vs 0 viewers: p50 {p50 / z50:.2f}x, p95 {p95 / z95:.2f}x")
        if one is not None and r is not one and r.viewers and r.refresh_s and one.refresh_s:
            notes.append(f"page refresh p95 vs 1 viewer: {_figures(r.refresh_s)[1] / _figures(one.refresh_s)[1]:.2f}x")
        if one is not None and r is not one and r.viewers and r.visible and one.visible:
            notes.append(f"report -> visible p95 vs 1 viewer: {_figures(r.visible)[1] / _figures(one.visible)[1]:.2f}x")
        if r.viewers:
            kept = "kept" if r.refreshes_per_min >= KEPT * 60 / REFRESH_S else "NOT kept"
            notes.append(f"the {REFRESH_S:.0f} s refresh {kept} ({r.refreshes_per_min:.1f}/min per viewer); {r.overlapped} reruns "
                         f"sent before the previous finished, {r.early} runs cut short by a newer one")
        if r.undecoded:
            notes.append(f"{r.undecoded} frames sent by the pages were not binary (not decoded)")
        if r.not_in_snapshot or r.not_visible:
            notes.append(f"{r.not_in_snapshot} reports not in the snapshot, {r.not_visible} (report, viewer) pairs "
                         f"not shown within --drain-s")
        print(f"{r.viewers} viewers: " + "; ".join(notes) if notes else f"{r.viewers} viewers: reference")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--viewers", default="0,1,5,10", help="viewer counts, measured in this order (default 0,1,5,10)")
    parser.add_argument("--warmup-s", type=float, default=15.0, help="load before measuring, per viewer count")
    parser.add_argument("--load-s", type=float, default=40.0, help="measured load, per viewer count")
    parser.add_argument("--drain-s", type=float, default=60.0, help="wait for the last reports to show, at most")
    args = parser.parse_args()
    counts = [int(n) for n in args.viewers.split(",")]
    per_tick, every_s = race.LOADS[LOAD]
    report_step = int((args.warmup_s + args.load_s + args.drain_s) / every_s) + 10
    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError("Debian chromium is not installed: `make test` installs it (apt-get install chromium)")
    import streamlit
    from playwright.sync_api import sync_playwright

    versions = f"{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, " \
               f"streamlit {streamlit.__version__}, chromium"
    print(f"loadavg at start: {_loadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="racecramp-viewers-") as tmp:
        config = race.write_config(Path(tmp))
        os.environ["RACECRAMP_CONFIG"] = str(config)
        os.environ.pop("RACECRAMP_DATA_DIR", None)
        os.environ.pop("PREFECT_API_URL", None)
        from racecramp.config import load_settings
        from racecramp.orchestration.supervisor import _launch, stop_stack

        settings = load_settings()
        t = time.monotonic()
        sizes = race.preload(settings)
        print(f"preloaded {sizes['runners']:,} runners, {sizes['passings']:,} passings, {sizes['reports']} reports "
              f"in {time.monotonic() - t:.0f} s (cpus={os.cpu_count()})", flush=True)
        bibs = sizes["bibs"]
        if report_step * len(counts) > len(bibs):
            raise RuntimeError(f"{len(counts)} viewer counts x {report_step} reports need more than the {len(bibs)} "
                               f"runners without a report: fewer counts or shorter --load-s")
        stack, intake, env = race.intake_stack(settings, Path(tmp))
        results: list[PhaseResult] = []
        try:
            _launch(intake, env)
            stack.children.append(start_dashboard(settings, env, Path(tmp)))
            url = f"http://{settings.dashboard_host}:{settings.dashboard_port}"
            base = f"http://{settings.intake_host}:{settings.intake_port}"
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS + NO_THROTTLING)
                driver = [p for p in psutil.Process().children() if "playwright" in " ".join(p.cmdline())]
                if len(driver) != 1:
                    raise RuntimeError(f"expected one Playwright driver among this process's children, found {len(driver)}")
                roots = {"streamlit": stack.children[1].process.pid, "browser": driver[0].pid, "intake": intake.process.pid}
                versions += f" {browser.version}"
                try:
                    first_bib = first_report = 0
                    for n in counts:
                        print(f"{n} viewers, {LOAD} load, live cycle: loadavg {_loadavg()}", flush=True)
                        results.append(run_phase(browser, url, config, settings, base, n, args, bibs, first_bib,
                                                 first_report, roots))
                        first_bib += 100_000
                        first_report += report_step
                finally:
                    browser.close()
        finally:
            stop_stack(stack)
    print(f"loadavg at end: {_loadavg()}")
    print_table(results, versions)


if __name__ == "__main__":
    main()
