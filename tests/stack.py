"""Helpers for tests that start a real racecramp stack on loopback: ports, tokens, config."""

from __future__ import annotations

import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from racecramp.config import hash_token, load_settings

TOKENS = {
    "command": "tok-command",
    "feed:timing:boston-2017": "tok-timing",
    "feed:weather:boston-2017": "tok-weather",
    "feed:survey:boston-2017": "tok-survey",
    "station:boston-2017:aid-23mi": "tok-aid23",
    "station:boston-2017:aid-20mi": "tok-aid20",
    "station:boston-2017:med-finish": "tok-medfinish",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(directory: Path, tokens: dict[str, str] | None = None, **extra) -> Path:
    """A racecramp.toml with fresh loopback ports and the test tokens (hashed), or `tokens`."""
    values = {"data_dir": str(directory / "var"), "intake_port": free_port(), "prefect_port": free_port(),
              "dashboard_port": free_port(), "ingest_interval_s": 20, "weather_poll_interval_s": 3600, **extra}
    lines = [f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}" for k, v in values.items()]
    lines.append("[token_hashes]")
    lines += [f'"{principal}" = "{hash_token(token)}"' for principal, token in (tokens or TOKENS).items()]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "racecramp.toml"
    path.write_text("\n".join(lines).replace("'", '"') + "\n")
    return path




@contextmanager
def environment(**values: str | None):
    """Set (or, for None, unset) these environment variables until the block ends, then put back what was there."""
    saved = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def config_settings(directory: Path, tokens: dict[str, str] | None = None, **extra):
    """Settings of a fresh config under `directory` (write_config), RACECRAMP_CONFIG pointing at it
    until the block ends (children started meanwhile read the same config)."""
    config = write_config(directory, tokens=tokens, **extra)
    with environment(RACECRAMP_CONFIG=str(config), RACECRAMP_DATA_DIR=None):
        yield load_settings()


@contextmanager
def running_stack(settings, with_dashboard: bool = False):
    """The real stack of `settings` (racecramp.orchestration.supervisor), with this process's Prefect
    clients pointed at its server (stack_prefect), until the block ends; yields the Stack."""
    from racecramp.orchestration import supervisor as services

    stack = services.start_stack(settings, with_dashboard=with_dashboard)
    try:
        with stack_prefect(settings):
            yield stack
    finally:
        services.stop_stack(stack)


def wait_for_counts(settings, want: dict[str, int], timeout_s: float, marts_current: bool = False,
                    every_s: float = 1.0) -> dict[str, int]:
    """Poll the published manifest until each snapshot table has at least `want` rows (and, with
    `marts_current`, no published mart is behind those counts: `marts_behind_since_utc` empty); its counts."""
    from racecramp.publish.snapshots import MARTS_BEHIND, read_manifest

    deadline = time.monotonic() + timeout_s
    manifest: dict = {}
    while time.monotonic() < deadline:
        manifest = read_manifest(settings.snapshot_dir) or {}
        counts = manifest.get("counts", {})
        if all(counts.get(table, 0) >= n for table, n in want.items()) and not (marts_current and manifest.get(MARTS_BEHIND)):
            return counts
        time.sleep(every_s)
    raise AssertionError(f"snapshot counts {manifest.get('counts')} (marts behind: {manifest.get(MARTS_BEHIND)}) "
                         f"did not reach {want}{' with every mart current' if marts_current else ''} in {timeout_s:.0f} s")


@contextmanager
def replay_stack(directory: Path, source, with_dashboard: bool = False):
    """A real stack on fresh loopback ports whose tokens cover every principal a replay of
    `source` posts as (racecramp.simulate.replay.race_principals); yields (settings, tokens).

    RACECRAMP_CONFIG points at the stack's config and RACECRAMP_COMMAND_TOKEN holds its
    command token (the dashboard child reads it for alert actions) until the stack stops.
    """
    from racecramp.intake.tokens import new_token
    from racecramp.simulate import replay

    tokens = {principal: new_token() for principal in replay.race_principals(source.races, source.course)}
    with config_settings(directory, tokens=tokens) as settings, environment(RACECRAMP_COMMAND_TOKEN=tokens["command"]):
        with running_stack(settings, with_dashboard=with_dashboard):
            yield settings, tokens


@contextmanager
def stack_prefect(settings):
    """Prefect clients in the test talk to this stack's server: the environment and Prefect's own
    settings both (Prefect keeps the settings it read first, so an earlier module's stopped
    server would be used)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from racecramp.orchestration import supervisor as services

    url = services.prefect_env(settings)["PREFECT_API_URL"]
    with environment(PREFECT_API_URL=url), temporary_settings(updates={PREFECT_API_URL: url}):
        yield url
