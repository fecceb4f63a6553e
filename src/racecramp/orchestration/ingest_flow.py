"""Prefect flow `ingest`: drain the landing zone into the warehouse and publish snapshots."""

from __future__ import annotations

from prefect import flow, get_run_logger

from racecramp.config import load_settings
from racecramp.orchestration.drain import drain


@flow(name="ingest", log_prints=False)
def ingest(linger_s: float = 60.0, poll_s: float = 0.5) -> dict:
    """Load, validate, merge, compute marts, publish — until the landing zone is quiet."""
    logger = get_run_logger()
    report = drain(
        load_settings(),
        linger_s=linger_s,
        poll_s=poll_s,
        on_cycle=lambda s: logger.info("merged %d batches: %d accepted, %d quarantined", len(s.batches), s.accepted, s.quarantined),
    )
    return report.__dict__
