"""The drain's heartbeat: a file whose mtime a running drain keeps fresh.

The intake reads it before announcing a landed batch to Prefect (orchestration.prefect_events):
while a drain runs, the batch is merged without an event, so a busy spell is one flow run.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from racecramp.config import Settings
from racecramp.durable import ensure_dir

# A heartbeat older than this is a drain that died (kill -9): the intake announces batches again.
DRAIN_ALIVE_FOR_S = 30.0


def heartbeat_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / "status" / "drain.alive"


def beat(settings: Settings) -> None:
    """The drain is alive now."""
    path = heartbeat_path(settings)
    try:
        os.utime(path)
    except FileNotFoundError:
        ensure_dir(path.parent)
        path.touch()


def stop(settings: Settings) -> None:
    heartbeat_path(settings).unlink(missing_ok=True)


def drain_alive(settings: Settings, now: float | None = None) -> bool:
    """A drain is running (its heartbeat is fresh): a batch landed now will be merged without an event."""
    try:
        beat_at = heartbeat_path(settings).stat().st_mtime
    except FileNotFoundError:
        return False
    return (now if now is not None else time.time()) - beat_at < DRAIN_ALIVE_FOR_S
