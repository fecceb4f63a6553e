"""Prefect events racecramp emits. Emission never blocks or fails the caller: the
interval fallback of the ingest deployment picks up anything an event did not announce."""

from __future__ import annotations

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


def landing_appended(kind: str, batch) -> bool:
    return emit(LANDING_APPENDED, f"racecramp.landing.{kind}", {"kind": kind, "batch_id": batch.batch_id})
