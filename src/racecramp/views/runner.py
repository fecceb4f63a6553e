"""Runner lookup: where a bib was last seen, its status and its medical reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from racecramp.views.shared import for_race, medical_reports


@dataclass(frozen=True)
class RunnerView:
    status: dict  # the runner_status row
    reports: pl.DataFrame  # that runner's medical reports, oldest first
    participant: dict | None


def runner_lookup(
    runner_status: pl.DataFrame | None,
    reports: pl.DataFrame | None,
    participants: pl.DataFrame | None,
    race_id: str,
    bib: str,
    now_utc: datetime | None = None,
) -> RunnerView | None:
    """The runner_status row of a bib, its reports and participant facts; None when unknown."""
    bib = bib.strip()
    status = for_race(runner_status, race_id)
    if not bib or status is None:
        return None
    row = status.filter(pl.col("bib") == bib)
    if row.height == 0:
        return None
    own = medical_reports(reports, race_id, now_utc)
    own = own.filter(pl.col("bib") == bib).sort("reported_at_utc") if own.height else own
    people = for_race(participants, race_id)
    person = None
    if people is not None:
        match = people.filter(pl.col("bib") == bib)
        person = match.row(0, named=True) if match.height else None
    return RunnerView(status=row.row(0, named=True), reports=own, participant=person)
