"""Helpers for dashboard tests: a temp racecramp environment, tokens, AppTest runs, a live intake."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import streamlit.config
import uvicorn
from streamlit.testing.v1 import AppTest

from racecramp.config import Settings, hash_token, load_settings
from racecramp.orchestration.supervisor import dashboard_entry
from racecramp.publish.snapshots import MANIFEST

APP = dashboard_entry()
TOKENS = {"station:boston-2017:aid-16mi": "tok-aid16", "station:boston-2017:aid-99mi": "tok-nowhere", "command": "tok-command",
          "feed:timing:boston-2017": "tok-timing"}
APPTEST_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(path: Path, **values: object) -> None:
    """A racecramp.toml with the test tokens and any top-level values."""
    lines = [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    lines.append("[token_hashes]")
    lines += [f'"{name}" = "{hash_token(token)}"' for name, token in TOKENS.items()]
    path.write_text("\n".join(lines) + "\n")


@contextmanager
def race_env(root: Path, **config: object):
    """Environment pointing racecramp (and so the app under AppTest) at `root`; yields Settings."""
    mp = pytest.MonkeyPatch()
    config.setdefault("intake_port", free_port())
    # the fixture race's last reading is 40 min old at its "now": with a 30-min limit (an
    # on-site meter) that raises the stale_weather alert the command-page tests act on
    config.setdefault("weather_stale_after_s", 1800.0)
    write_config(root / "racecramp.toml", **config)
    mp.setenv("RACECRAMP_DATA_DIR", str(root / "var"))
    mp.setenv("RACECRAMP_CONFIG", str(root / "racecramp.toml"))
    mp.delenv("RACECRAMP_COMMAND_TOKEN", raising=False)
    mp.delenv("RACECRAMP_DASHBOARD_HOST", raising=False)
    previous = streamlit.config.get_option("server.address")
    streamlit.config.set_option("server.address", "127.0.0.1")
    try:
        yield load_settings()
    finally:
        streamlit.config.set_option("server.address", previous)
        mp.undo()


def set_last_ingest(settings: Settings, moment: datetime) -> None:
    """Rewrite the manifest's last ingest time (freshness is judged on it)."""
    path = Path(settings.snapshot_dir) / MANIFEST
    manifest = json.loads(path.read_text())
    manifest["last_ingest_utc"] = moment.isoformat()
    path.write_text(json.dumps(manifest))


def fresh(settings: Settings) -> Settings:
    set_last_ingest(settings, datetime.now(UTC))
    return settings


def app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=APPTEST_TIMEOUT_S)


def open_page(page: str | None = None, **secrets: object) -> AppTest:
    """Run the app (command page), then switch to `page` (e.g. 'pages/course.py') and run it."""
    at = app()
    for key, value in secrets.items():
        at.secrets[key] = value
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    if page is not None:
        at.switch_page(page).run()
        assert not at.exception, [e.message for e in at.exception]
    return at


def shown(markdown: str) -> str:
    """What a reader sees of Markdown the pages escaped (dashboard.ui.plain): the text without its backslashes."""
    return re.sub(r"\\(.)", r"\1", markdown)


def metric(at: AppTest, label_start: str):
    found = [m for m in at.metric if m.label.startswith(label_start)]
    assert len(found) == 1, f"expected one metric labelled {label_start!r}, got {[m.label for m in at.metric]}"
    return found[0]


@contextmanager
def running_intake(settings: Settings):
    """The real intake app served by uvicorn on settings.intake_host:intake_port, in a thread."""
    from racecramp.intake import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(settings), host=settings.intake_host,
                                           port=settings.intake_port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"intake did not start on port {settings.intake_port}")
        time.sleep(0.05)
    try:
        yield f"http://{settings.intake_host}:{settings.intake_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
