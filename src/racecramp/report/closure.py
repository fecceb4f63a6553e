"""Closing a race: land a `race_closures` record like every other write, then announce it.

`racecramp close-race` and `POST /v1/races/{race_id}/close` both land the closure (landing ->
validation -> the single writer) and emit `racecramp.race.closed` with resource id
`racecramp.race.<race_id>`; the `post-race-report` deployment is triggered by that event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from racecramp import landing
from racecramp.config import Settings
from racecramp.domain import IDENTITY_PATTERN, IDENTITY_WORDS
from racecramp.errors import RacecrampError
from racecramp.orchestration import prefect_events as events
from racecramp.warehouse.ingest import IngestSummary

RACE_RESOURCE_PREFIX = "racecramp.race."
KIND = "race_closures"


def race_resource_id(race_id: str) -> str:
    return f"{RACE_RESOURCE_PREFIX}{race_id}"


class ClosureError(RacecrampError):
    """A closure that cannot be recorded as given."""


def closure_record(race_id: str, closed_by: str, closed_at_utc: datetime | None = None) -> dict[str, Any]:
    """The landing record of one closure (validated at ingest: the race must be known)."""
    at = closed_at_utc or datetime.now(UTC)
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"race closure of {race_id}: closed_at_utc={at!r} has no time zone; expected an aware datetime")
    return {"race_id": race_id, "closed_at_utc": at.astimezone(UTC).isoformat(), "closed_by": closed_by}


def race_closed(race_id: str, closed_at_utc: str, closed_by: str, batch_id: str) -> bool:
    """Emit racecramp.race.closed for the race; False when no Prefect API is configured or it failed."""
    payload = {"race_id": race_id, "closed_at_utc": closed_at_utc, "closed_by": closed_by, "batch_id": batch_id}
    return events.emit(events.RACE_CLOSED, race_resource_id(race_id), payload)


@dataclass
class ClosureResult:
    race_id: str
    batch: landing.Batch
    record: dict[str, Any]
    summary: IngestSummary | None
    event_emitted: bool

    @property
    def accepted(self) -> bool | None:
        """Whether the ingest stored the closure (None when the ingest did not run here)."""
        if self.summary is None:
            return None
        return any(b.batch_id == self.batch.batch_id and b.accepted == 1 for b in self.summary.batches)


def close_race(settings: Settings, race_id: str, closed_by: str, closed_at_utc: datetime | None = None,
               ingest: bool = True) -> ClosureResult:
    """Land the closure, merge it (unless ingest=False), then emit racecramp.race.closed."""
    from racecramp.landing.bulk import ingest_now

    if not re.fullmatch(IDENTITY_PATTERN, closed_by):
        raise ClosureError(f"--by {closed_by!r}: expected {IDENTITY_WORDS} (who closes is recorded, never a typed name)")
    record = closure_record(race_id, closed_by, closed_at_utc)
    batch = landing.append_records(settings.landing_dir, KIND, [record], source=f"close-race:{closed_by}")
    summary = ingest_now(settings) if ingest else None
    result = ClosureResult(race_id, batch, record, summary, event_emitted=False)
    if result.accepted is False:  # quarantined (unknown race): nothing to report on, no event
        return result
    result.event_emitted = race_closed(race_id, record["closed_at_utc"], closed_by, batch.batch_id)
    return result
