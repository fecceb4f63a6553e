"""Helpers for tests that start a real racecramp stack on loopback: ports, tokens, config."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from racecramp.config import hash_token, load_settings

TOKENS = {
    "command": "tok-command",
    "feed:timing": "tok-timing",
    "feed:weather": "tok-weather",
    "feed:survey": "tok-survey",
    "station:aid-23mi": "tok-aid23",
    "station:aid-20mi": "tok-aid20",
    "station:med-finish": "tok-medfinish",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(directory: Path, tokens: dict[str, str] | None = None, **extra) -> Path:
    """A racecramp.toml with fresh loopback ports and the test tokens (hashed), or `tokens`."""
    lines = [
        f'data_dir = "{directory / "var"}"',
        f"intake_port = {free_port()}",
        f"prefect_port = {free_port()}",
        f"dashboard_port = {free_port()}",
        "ingest_interval_s = 20",
        "weather_poll_interval_s = 3600",
    ]
    lines += [f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}" for k, v in extra.items()]
    lines.append("[token_hashes]")
    lines += [f'"{principal}" = "{hash_token(token)}"' for principal, token in (tokens or TOKENS).items()]
    path = directory / "racecramp.toml"
    path.write_text("\n".join(lines).replace("'", '"') + "\n")
    return path


