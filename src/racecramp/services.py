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

from racecramp.config import Settings

REPO = Path(__file__).resolve().parents[2]
FLOWS = REPO / "flows"
DASHBOARDS = REPO / "dashboards"


def prefect_env(settings: Settings) -> dict[str, str]:
    """Environment for every child: Prefect home under the data dir, telemetry off."""
    env = dict(os.environ)
    home = Path(settings.data_dir).resolve() / "prefect"
    home.mkdir(parents=True, exist_ok=True)
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
        if dashboard_entry() is not None:
            urls["dashboard"] = f"http://{s.dashboard_host}:{s.dashboard_port}"
        return urls


def dashboard_entry() -> Path | None:
    entry = DASHBOARDS / "app.py"
    return entry if entry.exists() else None


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


def start_stack(settings: Settings, with_dashboard: bool = True, log_dir: Path | None = None) -> Stack:
    """Start every component and wait until each answers; raises (after stopping) if one fails."""
    env = prefect_env(settings)
    log_dir = log_dir or (Path(settings.data_dir) / "logs")
    log_dir.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    stack = Stack(settings)
    plan = [
        Child("prefect-server", [py, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(settings.prefect_port)],
              f"http://127.0.0.1:{settings.prefect_port}/api/health"),
        Child("flows", [py, str(FLOWS / "serve.py")], None),
        Child("intake", [py, "-m", "racecramp.cli", "intake"], f"http://{settings.intake_host}:{settings.intake_port}/v1/health"),
    ]
    entry = dashboard_entry()
    if with_dashboard and entry is not None:
        plan.append(
            Child("dashboard", [py, "-m", "streamlit", "run", str(entry), "--server.headless", "true",
                                "--server.address", settings.dashboard_host, "--server.port", str(settings.dashboard_port),
                                "--browser.gatherUsageStats", "false"],
                  f"http://{settings.dashboard_host}:{settings.dashboard_port}/_stcore/health")
        )
    try:
        for child in plan:
            child.log_path = log_dir / f"{child.name}.log"
            log = open(child.log_path, "ab")
            child.process = subprocess.Popen(child.args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                             start_new_session=True)
            stack.children.append(child)
            if child.health_url:
                wait_healthy(child.health_url, 90.0, child.process)
    except BaseException:
        stop_stack(stack)
        raise
    return stack


def stop_stack(stack: Stack, timeout_s: float = 15.0) -> None:
    """SIGTERM every child (last started first), SIGKILL what is still alive after the timeout."""
    for child in reversed(stack.children):
        if child.process is not None and child.process.poll() is None:
            os.killpg(child.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for child in reversed(stack.children):
        if child.process is None:
            continue
        remaining = max(0.1, deadline - time.monotonic())
        try:
            child.process.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait()


def run_forever(stack: Stack, on_exit=None) -> int:
    """Block until Ctrl-C / SIGTERM or a child dies; then stop everything."""
    stopping = {"signal": None}

    def handler(signum, frame):
        stopping["signal"] = signum

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    code = 0
    while stopping["signal"] is None:
        dead = [c for c in stack.children if c.process is not None and c.process.poll() is not None]
        if dead:
            code = 1
            if on_exit:
                on_exit(f"{dead[0].name} exited with code {dead[0].process.returncode}; see {dead[0].log_path}")
            break
        time.sleep(0.5)
    stop_stack(stack)
    return code


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
