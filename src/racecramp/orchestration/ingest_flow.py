"""Prefect flow `ingest`: drain the landing zone into the warehouse and publish snapshots.

What an operator reads in the Prefect UI: one run per busy spell (orchestration.drain), its
log with a line per `REPORT_EVERY_S` (batches merged, accepted, quarantined, the slowest
step), and the table artifact `ingest-cycles`: every step of the latest cycles (merge,
publish tables, urgent marts, heavy marts, manifest) with its count and duration, renewed
while the run drains. A failing step fails the run with its error; the run is retried once
(a merge is one transaction per batch, so merging again is safe).
"""

from __future__ import annotations

import time

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from racecramp.config import load_settings
from racecramp.orchestration.drain import POLL_S, drain
from racecramp.publish.publisher import Step

REPORT_EVERY_S = 30.0
ARTIFACT_ROWS = 60  # the latest steps shown


class CycleLog:
    """Steps of the drain's cycles, reported to Prefect at most every `every_s`."""

    def __init__(self, every_s: float = REPORT_EVERY_S) -> None:
        self.every_s = every_s
        self.rows: list[dict] = []
        self.cycle = 0
        self.batches = self.accepted = self.quarantined = 0
        self.slowest: Step | None = None
        self.reported_at = time.monotonic()

    def add(self, summary, steps: list[Step]) -> None:
        self.cycle += 1
        self.batches += len(summary.batches)
        self.accepted += summary.accepted
        self.quarantined += summary.quarantined
        for step in steps:
            self.rows.append({"cycle": self.cycle, "step": step.step, "count": step.count,
                              "seconds": round(step.seconds, 3), "detail": step.detail[:200]})
            if self.slowest is None or step.seconds > self.slowest.seconds:
                self.slowest = step
        self.rows = self.rows[-ARTIFACT_ROWS:]
        if time.monotonic() - self.reported_at >= self.every_s:
            self.report()

    def report(self) -> None:
        logger = get_run_logger()
        slowest = f"; slowest step {self.slowest.step} {self.slowest.seconds:.2f} s" if self.slowest else ""
        logger.info("%d cycles: merged %d batches, %d accepted, %d quarantined%s", self.cycle, self.batches,
                    self.accepted, self.quarantined, slowest)
        if self.rows:
            create_table_artifact(key="ingest-cycles", table=self.rows,
                                  description="The latest steps of the ingest's live cycles: count and seconds each.")
        self.reported_at = time.monotonic()
        self.slowest = None


@flow(name="ingest", log_prints=False, retries=1, retry_delay_seconds=5)
def ingest(linger_s: float = 60.0, poll_s: float = POLL_S) -> dict:
    """Load, validate, merge, publish the urgent tables, build the marts — until the landing zone is quiet."""
    cycles = CycleLog()
    report = drain(load_settings(), linger_s=linger_s, poll_s=poll_s, on_cycle=cycles.add)
    cycles.report()
    return report.__dict__
