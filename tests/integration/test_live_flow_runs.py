"""Issue 15: a busy spell of landings is a handful of ingest flow runs, none cancelled, and the
runs show their steps (a real Prefect server and served flows on loopback)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from racecramp.landing.bulk import import_race
from racecramp.orchestration.heartbeat import drain_alive
from racecramp.publish.snapshots import read_snapshot

from paths import DATA
from stack import TOKENS, config_settings, running_stack

pytestmark = pytest.mark.integration

START = datetime(2017, 4, 17, 14, 0, tzinfo=UTC)
REPORTS = 60
REPORT_EVERY_S = 0.5  # 30 s of landings: 60 batches, each one an event while no drain runs
RUNS_AT_MOST = 3  # the run the first event starts, and at most one per 30 s debounce window before it beats


@pytest.fixture(scope="module")
def quiet_stack(tmp_path_factory):
    """A stack whose only ingest runs are the events' (the fallback schedule is an hour)."""
    with config_settings(tmp_path_factory.mktemp("flow-runs"), ingest_interval_s=3600, ingest_debounce_s=30) as settings:
        import_race(settings, DATA / "races" / "boston-2017.toml")
        with running_stack(settings):
            yield settings


def _report(i: int) -> dict:
    return {"report_id": str(uuid.uuid4()), "race_id": "boston-2017", "source": "aid_station", "point_id": "aid-23mi",
            "km": 37.015, "bib": str(1000 + i), "reported_at_utc": (START + timedelta(minutes=120 + i)).isoformat(),
            "muscle_group": "calf", "severity": "mild", "treatment": "stretch_massage", "disposition": "returned_to_race"}


def _ingest_runs() -> list:
    """Ingest runs that have started or are due (not the fallback schedule's runs of the coming hours)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["ingest"])))
    now = datetime.now(UTC)
    return [r for r in runs if r.start_time is not None or r.expected_start_time is None or r.expected_start_time <= now]


def _artifact_rows() -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["ingest-cycles"])))


def test_a_busy_spell_of_landings_is_a_handful_of_ingest_runs_and_none_is_cancelled(quiet_stack):
    settings = quiet_stack
    base = f"http://{settings.intake_host}:{settings.intake_port}"
    sent = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for i in range(REPORTS):
            report = _report(i)
            response = client.post("/v1/reports", json=report, headers={"Authorization": f"Bearer {TOKENS['station:boston-2017:aid-23mi']}"})
            assert response.status_code == 202, response.text
            sent.append(report["report_id"])
            time.sleep(REPORT_EVERY_S)
    deadline = time.monotonic() + 240
    published: set[str] = set()
    while time.monotonic() < deadline and not set(sent) <= published:
        frame = read_snapshot(settings.snapshot_dir, "cramp_reports")
        published = set(frame["report_id"].cast(str).to_list())
        time.sleep(1.0)
    assert set(sent) <= published, f"{len(set(sent) - published)} of {REPORTS} reports never published"
    # the drain lingers 60 s after the last batch, then ends; wait for every run to finish
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        runs = _ingest_runs()
        if runs and all(r.state is not None and r.state.is_final() for r in runs) and not drain_alive(settings):
            break
        time.sleep(2.0)
    states = sorted(r.state.type.value for r in runs)
    assert 1 <= len(runs) <= RUNS_AT_MOST, f"{len(runs)} ingest runs for {REPORTS} landings: {states}"
    assert all(r.state.type.value == "COMPLETED" for r in runs), states
    # what the run did is in the UI: the steps of its latest cycles with their durations
    artifacts = _artifact_rows()
    assert artifacts, "no ingest-cycles artifact"
    assert "merge" in str(artifacts[0].data) and "seconds" in str(artifacts[0].data)
