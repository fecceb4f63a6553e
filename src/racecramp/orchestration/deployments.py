"""The long-lived Prefect `serve(...)` process: every racecramp deployment in one place.

Run by `racecramp serve` as `python -m racecramp.orchestration.deployments` (after it has
started the Prefect server and set PREFECT_API_URL).
"""

from __future__ import annotations

from datetime import timedelta

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

from racecramp.config import Settings, load_settings
from racecramp.orchestration.ingest_flow import ingest
from racecramp.orchestration.prefect_events import LANDING_APPENDED as LANDING_EVENT
from racecramp.orchestration.report_flow import build_report_deployment
from racecramp.orchestration.weather_flow import poll


def build_deployments(settings: Settings) -> list:
    """ingest (event-triggered, debounced, concurrency 1, interval fallback) and poll-weather.

    One ingest run drains a whole busy spell (orchestration.drain); the intake announces
    batches only while no drain runs, and the trigger starts at most one run per window. A
    run that starts while another drains waits for it (ENQUEUE, never cancelled) and ends at
    once when the landing zone holds nothing new."""
    debounce = timedelta(seconds=settings.ingest_debounce_s)
    ingest_deployment = ingest.to_deployment(
        name="ingest",
        interval=timedelta(seconds=settings.ingest_interval_s),
        triggers=[
            DeploymentEventTrigger(
                name="landing appended",
                expect={LANDING_EVENT},
                match={"prefect.resource.id": "racecramp.landing.*"},
                posture="Reactive",
                threshold=1,
                within=debounce,
            )
        ],
        # one writer; a second run (the interval fallback during a long drain) waits, then finds nothing
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE),
        tags=["racecramp", "duckdb-writer"],
        description="Drain the landing zone into the warehouse; publish snapshots.",
    )
    weather_deployment = poll.to_deployment(
        name="poll-weather",
        interval=timedelta(seconds=settings.weather_poll_interval_s),
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW),
        tags=["racecramp"],
        description="Land weather from the HTTP feed and the drop folder.",
    )
    return [ingest_deployment, weather_deployment, build_report_deployment(settings)]


def crash_orphaned_runs() -> int:
    """Mark runs left RUNNING/PENDING by a serve process that died (kill -9, power loss) as
    crashed, so they release the ingest's concurrency slot; their batches are still pending
    in the landing zone (a batch is merged and logged in one transaction) and the next run
    merges them."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING, StateType.CANCELLING]))
            )
        )
        for run in runs:
            client.set_flow_run_state(run.id, Crashed(message="serve process restarted; run orphaned"), force=True)
    return len(runs)


def wait_for_api(poll_s: float = 1.0) -> None:
    """Block until the Prefect API answers (it may be restarting)."""
    import os
    import time

    import httpx

    url = os.environ["PREFECT_API_URL"].rstrip("/") + "/health"
    while True:
        try:
            healthy = httpx.get(url, timeout=2.0).status_code == 200
        except httpx.HTTPError:
            healthy = False  # not up yet: the landing zone holds the data meanwhile
        if healthy:
            return
        time.sleep(poll_s)


def main() -> None:
    """Serve forever; when the Prefect server goes away, wait for it and serve again.

    Data keeps landing while Prefect is down (the intake does not depend on it); the next
    ingest run after the server is back drains everything pending.
    """
    import logging
    import signal
    import time

    log = logging.getLogger("racecramp.serve")
    settings = load_settings()
    stopping = {"signal": None}

    def stop(signum, frame):
        # `racecramp serve` stops its children with SIGTERM; without this the loop below would
        # take the Prefect server going away at the same moment for an outage and wait for it.
        stopping["signal"] = signum
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    while stopping["signal"] is None:
        wait_for_api()
        try:
            orphaned = crash_orphaned_runs()
            if orphaned:
                log.warning("marked %d orphaned flow run(s) as crashed", orphaned)
            serve(*build_deployments(settings))
            return
        except Exception:
            log.exception("serve() stopped (Prefect server unreachable?); waiting for the API and serving again")
            time.sleep(2.0)


if __name__ == "__main__":
    main()
