"""Issue 7: the post-race-report deployment is registered on a real Prefect server with its
schedule in the race's time zone, and `racecramp close-race` (event racecramp.race.closed)
triggers a run that ingests what is pending and writes the report file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from bs4 import BeautifulSoup

from racecramp import landing
from racecramp.landing.bulk import import_race

from paths import DATA
from stack import running_stack

pytestmark = pytest.mark.integration

DEPLOYMENT = "post-race-report/post-race-report"
START = datetime(2017, 4, 17, 14, 0, tzinfo=UTC)
REPORT_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def stack(stack_settings):
    import_race(stack_settings, DATA / "races" / "boston-2017.toml")  # serve reads the race date and zone from the snapshot
    import_race(stack_settings, DATA / "races" / "boston-2018.toml")  # closed through the intake (a closed race is not closed again)
    with running_stack(stack_settings):
        yield stack_settings


def _deployment(timeout_s: float = 90.0):
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while True:
            try:
                return client.read_deployment_by_name(DEPLOYMENT)
            except ObjectNotFound:
                if time.monotonic() > deadline:
                    raise AssertionError(f"deployment {DEPLOYMENT} not registered after {timeout_s:.0f} s") from None
                time.sleep(1.0)


def test_deployment_is_scheduled_at_six_the_morning_after_in_boston_time(stack):
    deployment = _deployment()
    schedules = [s.schedule for s in deployment.schedules]
    assert [(s.cron, s.timezone) for s in schedules] == [("0 6 18 4 *", "America/New_York")]


def test_close_race_triggers_a_run_that_ingests_and_writes_the_report(stack):
    _deployment()
    # three reports landed but not merged: the report run must ingest them first
    reports = [
        {"report_id": str(uuid.uuid4()), "race_id": "boston-2017", "source": "aid_station", "point_id": "aid-23mi",
         "km": 37.015, "bib": str(100 + i), "reported_at_utc": (START + timedelta(hours=3, minutes=i)).isoformat(),
         "muscle_group": "calf", "severity": "mild", "treatment": "stretch_massage", "disposition": "returned_to_race"}
        for i in range(3)
    ]
    landing.append_records(stack.landing_dir, "reports", reports, source="integration")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}  # the CLI finds the running stack itself
    closed = subprocess.run([sys.executable, "-m", "racecramp.cli.main", "close-race", "boston-2017", "--by", "integration"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert closed.returncode == 0, closed.stdout + closed.stderr
    assert "emitted racecramp.race.closed" in closed.stdout.replace("\n", " ")
    html_path = stack.data_dir / "reports" / "report-boston-2017.html"
    deadline = time.monotonic() + REPORT_TIMEOUT_S
    while not html_path.exists() and time.monotonic() < deadline:
        time.sleep(1.0)
    assert html_path.exists(), f"no report at {html_path} {REPORT_TIMEOUT_S} s after close-race"
    soup = BeautifulSoup(html_path.read_text(encoding="utf-8"), "html.parser")
    assert soup.find(id="h-presentations").text == "3"
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[_deployment().id])))
    assert any(run.parameters.get("race_id") == "boston-2017" for run in runs), [r.parameters for r in runs]


def test_closing_another_race_through_the_intake_triggers_its_report_run(stack):
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    from stack import TOKENS

    deployment_id = _deployment().id
    runs_filter = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
    def completed_for_2018(runs) -> int:
        return sum(1 for r in runs if r.state is not None and r.state.is_completed() and r.parameters.get("race_id") == "boston-2018")

    with get_client(sync_client=True) as client:
        before = completed_for_2018(client.read_flow_runs(deployment_filter=runs_filter))
    response = httpx.post(f"http://{stack.intake_host}:{stack.intake_port}/v1/races/boston-2018/close",
                          json={"by": "dr-lee"}, headers={"Authorization": f"Bearer {TOKENS['command']}"}, timeout=30)
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + REPORT_TIMEOUT_S
    runs = []
    while time.monotonic() < deadline:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(deployment_filter=runs_filter)
        if completed_for_2018(runs) > before:
            break
        time.sleep(1.0)
    assert completed_for_2018(runs) > before, [(r.parameters, r.state_name) for r in runs]
