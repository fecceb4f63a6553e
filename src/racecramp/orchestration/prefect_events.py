"""Prefect events racecramp emits. Emission never blocks or fails the caller: the
interval fallback of the ingest deployment picks up anything an event did not announce.

A landed batch is announced only when no drain is running (orchestration.drain keeps a
heartbeat, orchestration.heartbeat): a running drain merges it anyway, and an event would only start a flow run
that finds nothing to do."""

from __future__ import annotations

import functools
import logging
import os

log = logging.getLogger(__name__)

LANDING_APPENDED = "racecramp.landing.appended"
RACE_CLOSED = "racecramp.race.closed"


def emit(event: str, resource_id: str, payload: dict) -> bool:
    """Emit a Prefect event when a Prefect API is configured; returns whether it was handed over."""
    if not os.environ.get("PREFECT_API_URL"):
        return False
    from prefect.events import emit_event

    try:
        emitted = emit_event(event=event, resource={"prefect.resource.id": resource_id}, payload=payload)
    except Exception:  # the event bus is best effort; the data is already durable
        log.warning("could not emit %s for %s", event, resource_id, exc_info=True)
        return False
    return emitted is not None


@functools.lru_cache(maxsize=1)
def _settings():
    from racecramp.config import load_settings

    return load_settings()


def landing_appended(kind: str, batch, settings=None) -> bool:
    """Announce a landed batch, unless a running drain will merge it; returns whether it was announced."""
    from racecramp.orchestration.heartbeat import drain_alive

    if drain_alive(settings or _settings()):
        return False
    return emit(LANDING_APPENDED, f"racecramp.landing.{kind}", {"kind": kind, "batch_id": batch.batch_id})
