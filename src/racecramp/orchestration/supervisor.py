"""`racecramp serve`: start the Prefect server, the served flows, the intake and the
dashboard as child processes on loopback; stop them all on Ctrl-C or SIGTERM.
`racecramp status`: each component's health, the landing backlog, the last ingest and
the last weather observation.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from racecramp import dashboard
from racecramp.config import Settings
from racecramp.durable import ensure_dir, remove_stale_temporaries
from racecramp.warehouse.writer import check_warehouse


def prefect_env(settings: Settings) -> dict[str, str]:
    """Environment for every child: Prefect home under the data dir, telemetry off."""
    env = dict(os.environ)
    home = ensure_dir(Path(settings.data_dir).resolve() / "prefect")
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": f"http://127.0.0.1:{settings.prefect_port}/api",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_API_HOST": "127.0.0.1",
            "PREFECT_SERVER_API_PORT": str(settings.prefect_port),
            "PREFECT_RUNNER_POLL_FREQUENCY": "1",
            "PREFECT_LOGGING_LEVEL": env.get("PREFECT_LOGGING_LEVEL", "WARNING"),
            "RACECRAMP_DATA_DIR": str(Path(settings.data_dir).resolve()),
        }
    )
    return env


@dataclass
class Child:
    name: str
    args: list[str]
    health_url: str | None
    process: subprocess.Popen | None = None
    log_path: Path | None = None


@dataclass
class Stack:
    settings: Settings
    children: list[Child] = field(default_factory=list)

    def urls(self) -> dict[str, str]:
        s = self.settings
        urls = {
            "prefect": f"http://127.0.0.1:{s.prefect_port}",
            "intake": f"http://{s.intake_host}:{s.intake_port}/docs",
        }
        if any(c.name == "dashboard" for c in self.children):
            urls["dashboard"] = f"http://{s.dashboard_host}:{s.dashboard_port}"
        return urls


def dashboard_entry() -> Path:
    """The Streamlit app file `racecramp serve` runs (it ships inside the package)."""
    return Path(dashboard.__file__).parent / "app.py"


def wait_healthy(url: str, timeout_s: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: process exited with code {process.returncode} before it was healthy")
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code < 500:
                return
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.3)
    raise TimeoutError(f"{url} not healthy after {timeout_s:.0f} s (last: {last})")


def _launch(child: Child, env: dict[str, str]) -> None:
    log = open(child.log_path, "ab")
    child.process = subprocess.Popen(child.args, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
    if child.health_url:
        wait_healthy(child.health_url, 90.0, child.process)


def child(stack: Stack, name: str) -> Child:
    for c in stack.children:
        if c.name == name:
            return c
    raise KeyError(f"no component {name!r} in this stack ({', '.join(c.name for c in stack.children)})")


def kill_child(stack: Stack, name: str, sig: int = signal.SIGKILL) -> None:
    """Send a signal to a component's whole process group and wait for it (fault drills, tests)."""
    c = child(stack, name)
    if c.process is not None and c.process.poll() is None:
        os.killpg(c.process.pid, sig)
        c.process.wait(timeout=30)


def restart_child(stack: Stack, name: str) -> None:
    """Start a stopped component again with the same command and environment."""
    c = child(stack, name)
    if c.process is not None and c.process.poll() is None:
        raise RuntimeError(f"{name} is still running (pid {c.process.pid})")
    _launch(c, prefect_env(stack.settings))


def prepare_data_dir(settings: Settings) -> list[Path]:
    """Before any child starts: remove temporaries left by writers that died mid-write, and
    read the whole warehouse (a damaged file is WarehouseDamaged, naming `racecramp rebuild`).
    Returns the temporaries removed."""
    removed = remove_stale_temporaries(Path(settings.data_dir))
    check_warehouse(settings.warehouse_path)
    return removed


def start_stack(settings: Settings, with_dashboard: bool = True, log_dir: Path | None = None) -> Stack:
    """Start every component and wait until each answers; raises (after stopping) if one fails."""
    prepare_data_dir(settings)
    env = prefect_env(settings)
    log_dir = ensure_dir(log_dir or (Path(settings.data_dir) / "logs"))
    py = sys.executable
    stack = Stack(settings)
    plan = [
        Child("prefect-server", [py, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(settings.prefect_port)],
              f"http://127.0.0.1:{settings.prefect_port}/api/health"),
        Child("flows", [py, "-m", "racecramp.orchestration.deployments"], None),
        Child("intake", [py, "-m", "racecramp.cli", "intake"], f"http://{settings.intake_host}:{settings.intake_port}/v1/health"),
    ]
    if with_dashboard:
        plan.append(
            Child("dashboard", [py, "-m", "streamlit", "run", str(dashboard_entry()), "--server.headless", "true",
                                "--server.address", settings.dashboard_host, "--server.port", str(settings.dashboard_port),
                                "--client.toolbarMode", "viewer", "--browser.gatherUsageStats", "false"],
                  f"http://{settings.dashboard_host}:{settings.dashboard_port}/_stcore/health")
        )
    try:
        for planned in plan:
            planned.log_path = log_dir / f"{planned.name}.log"
            stack.children.append(planned)
            _launch(planned, env)
    except BaseException:
        stop_stack(stack)
        raise
    return stack


def stop_stack(stack: Stack, timeout_s: float = 15.0) -> None:
    """Stop the children last started first, each before the next: SIGTERM to its process
    group, SIGKILL if it is still alive after the timeout. One at a time so that a flow run
    being stopped can still report its state to the Prefect server (stopped last)."""
    for c in reversed(stack.children):
        if c.process is None or c.process.poll() is not None:
            continue
        os.killpg(c.process.pid, signal.SIGTERM)
        try:
            c.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(c.process.pid, signal.SIGKILL)
            c.process.wait()


class StopRequested(Exception):
    """SIGTERM or Ctrl-C while the stack was still starting."""


def stop_on_signal_while_starting() -> None:
    """Until run_forever takes over, SIGTERM/SIGINT abort the start (start_stack then stops what
    it started) instead of killing the process with its children still running."""

    def abort(signum, frame):
        raise StopRequested(f"signal {signum} while starting")

    signal.signal(signal.SIGTERM, abort)
    signal.signal(signal.SIGINT, abort)


def run_forever(stack: Stack, on_event=None, restart_delay_s: float = 2.0) -> int:
    """Supervise until Ctrl-C / SIGTERM: a child that dies is restarted (and reported);
    then stop everything."""
    stopping = {"signal": None}

    def handler(signum, frame):
        stopping["signal"] = signum

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    while stopping["signal"] is None:
        for c in stack.children:
            if c.process is not None and c.process.poll() is not None and stopping["signal"] is None:
                if on_event:
                    on_event(f"{c.name} exited with code {c.process.returncode}; restarting (log: {c.log_path})")
                time.sleep(restart_delay_s)
                try:
                    restart_child(stack, c.name)
                except (RuntimeError, TimeoutError) as exc:
                    if on_event:
                        on_event(f"{c.name} did not come back: {exc}; will retry")
        time.sleep(0.5)
    stop_stack(stack)
    return 0


def component_health(settings: Settings) -> dict[str, str]:
    """'up', 'down' or 'not configured' for each component, by its health URL."""
    checks = {
        "prefect": f"http://127.0.0.1:{settings.prefect_port}/api/health",
        "intake": f"http://{settings.intake_host}:{settings.intake_port}/v1/health",
        "dashboard": f"http://{settings.dashboard_host}:{settings.dashboard_port}/_stcore/health",
    }
    health = {}
    for name, url in checks.items():
        try:
            ok = httpx.get(url, timeout=2.0).status_code < 500
            health[name] = "up" if ok else "error"
        except httpx.HTTPError:
            health[name] = "down"
    return health
