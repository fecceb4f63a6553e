"""Prefect flow `post-race-report`: merge everything landed, then write the race's report.

Deployment (served by flows/serve.py beside ingest and poll-weather):
- a cron schedule in the race's time zone, 06:00 the morning after the race
  (racecramp.report.schedule), and
- a trigger on the event `racecramp.race.closed` (resource `racecramp.race.<race_id>`,
  emitted by `racecramp close-race` and POST /v1/races/{race_id}/close), whose payload's
  race_id becomes the run's parameter.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
from prefect.schedules import Cron

from racecramp.config import Settings, load_settings
from racecramp.landing.bulk import ingest_now
from racecramp.orchestration.prefect_events import RACE_CLOSED
from racecramp.publish.snapshots import read_published, snapshot_path
from racecramp.report.closure import RACE_RESOURCE_PREFIX
from racecramp.report.schedule import report_schedule
from racecramp.report.write import write_report


@flow(name="post-race-report", log_prints=False)
def post_race_report(race_id: str | None = None, formats: list[str] | None = None) -> dict:
    """Ingest (so the closure and every last report are merged and published), then write the report."""
    logger = get_run_logger()
    settings = load_settings()
    summary = ingest_now(settings)
    logger.info("ingest before the report: %d batches, %d accepted, %d quarantined",
                len(summary.batches), summary.accepted, summary.quarantined)
    race = race_id or settings.race_id
    written = write_report(settings, race, tuple(formats or ("html",)))
    logger.info("post-race report for %s: %s", race, ", ".join(str(p) for p in written.files.values()))
    return {kind: str(path) for kind, path in written.files.items()}


def build_report_deployment(settings: Settings):
    """post-race-report: cron in the race's time zone plus the racecramp.race.closed trigger."""
    races = read_published(snapshot_path(settings.snapshot_dir, "races"))
    when = report_schedule(settings.race_id, races, hour_local=settings.report_hour_local,
                           minute_local=settings.report_minute_local, days_after=settings.report_days_after)
    return post_race_report.to_deployment(
        name="post-race-report",
        schedules=[Cron(when.cron, timezone=when.timezone)],
        triggers=[
            DeploymentEventTrigger(
                name="race closed",
                expect={RACE_CLOSED},
                match={"prefect.resource.id": f"{RACE_RESOURCE_PREFIX}*"},
                posture="Reactive",
                threshold=1,
                parameters={"race_id": "{{ event.payload.race_id }}"},
            )
        ],
        # two races closed together are both reported, one after the other
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE),
        tags=["racecramp", "report"],
        description=f"Post-race report: scheduled {when.description}, and on racecramp.race.closed.",
    )
