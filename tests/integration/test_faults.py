"""Issue 3 fault drills on a real stack: nothing acknowledged is lost or counted twice."""

from __future__ import annotations

import fcntl
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import polars as pl
import pytest

from racecramp.landing.bulk import import_race
from racecramp.orchestration import supervisor as services
from racecramp.publish.snapshots import read_manifest, read_snapshot

from paths import DATA
from stack import TOKENS, running_stack

pytestmark = pytest.mark.integration

START = datetime(2017, 4, 17, 14, 0, tzinfo=UTC)
MATS = [("mat-05k", 5.0), ("mat-10k", 10.0), ("mat-15k", 15.0), ("mat-20k", 20.0), ("mat-half", 21.0975),
        ("mat-25k", 25.0), ("mat-30k", 30.0), ("mat-35k", 35.0), ("mat-40k", 40.0), ("finish", 42.195)]


@pytest.fixture(scope="module")
def stack(stack_settings):
    import_race(stack_settings, DATA / "races" / "boston-2017.toml")
    with running_stack(stack_settings) as running:
        yield running


def _report(i: int) -> dict:
    return {"report_id": str(uuid.uuid4()), "race_id": "boston-2017", "source": "aid_station", "point_id": "aid-23mi",
            "km": 37.015, "bib": str(3000 + i), "reported_at_utc": (START + timedelta(minutes=150, seconds=i)).isoformat(),
            "muscle_group": "calf", "severity": "mild", "treatment": "stretch_massage", "disposition": "returned_to_race"}


def _post_reports(settings, reports: list[dict]) -> list[str]:
    """POST one by one; returns the ids the intake acknowledged with 202."""
    acked = []
    with httpx.Client(base_url=f"http://{settings.intake_host}:{settings.intake_port}", timeout=10) as client:
        for report in reports:
            response = client.post("/v1/reports", json=report, headers={"Authorization": f"Bearer {TOKENS['station:boston-2017:aid-23mi']}"})
            if response.status_code == 202:
                acked.append(report["report_id"])
    return acked


def _snapshot_ids(settings) -> list[str]:
    try:
        return read_snapshot(settings.snapshot_dir, "cramp_reports")["report_id"].cast(pl.String).to_list()
    except FileNotFoundError:
        return []


def _wait_for_ids(settings, ids: set[str], timeout_s: float = 180.0) -> list[str]:
    deadline = time.monotonic() + timeout_s
    seen: list[str] = []
    while time.monotonic() < deadline:
        seen = _snapshot_ids(settings)
        if ids <= set(seen):
            return seen
        time.sleep(0.5)
    raise AssertionError(f"{len(ids - set(seen))} acknowledged reports missing from the snapshot after {timeout_s:.0f} s")


def test_kill_9_of_the_intake_between_requests_loses_no_acknowledged_record(stack):
    settings = stack.settings
    acked = _post_reports(settings, [_report(i) for i in range(30)])
    assert len(acked) == 30
    services.kill_child(stack, "intake")
    services.restart_child(stack, "intake")
    acked += _post_reports(settings, [_report(100 + i) for i in range(10)])
    seen = _wait_for_ids(settings, set(acked))
    assert len(seen) == len(set(seen))  # nothing counted twice


def test_with_the_prefect_server_down_the_intake_still_acknowledges_and_data_arrives_later(stack):
    settings = stack.settings
    services.kill_child(stack, "prefect-server")
    acked = _post_reports(settings, [_report(200 + i) for i in range(20)])
    assert len(acked) == 20  # 202 means durable, Prefect or not
    services.restart_child(stack, "prefect-server")
    seen = _wait_for_ids(settings, set(acked), timeout_s=240)
    assert len(seen) == len(set(seen))


def test_kill_9_of_serve_during_an_ingest_then_restart_gives_exact_counts(stack):
    settings = stack.settings
    before = (read_manifest(settings.snapshot_dir) or {}).get("counts", {}).get("passings", 0)
    passings = [
        {"race_id": "boston-2017", "bib": str(40000 + r), "point_id": pid, "km": km, "net_time_s": km * 300.0,
         "passed_at_utc": (START + timedelta(seconds=km * 300.0)).isoformat()}
        for r in range(3000) for pid, km in MATS
    ]
    base = f"http://{settings.intake_host}:{settings.intake_port}"
    with httpx.Client(base_url=base, timeout=60) as client:
        for i in range(0, len(passings), 5000):
            response = client.post("/v1/passings", json={"passings": passings[i:i + 5000]},
                                   headers={"Authorization": f"Bearer {TOKENS['feed:timing:boston-2017']}"})
            assert response.status_code == 202, response.text
    # wait until the ingest holds the single-writer lock (a merge is under way), then kill -9
    # the whole serve process group in the middle of it
    lock_path = settings.warehouse_path.with_suffix(".writer.lock")
    deadline = time.monotonic() + 120
    caught_mid_ingest = False
    while time.monotonic() < deadline and not caught_mid_ingest:
        if lock_path.exists():
            with open(lock_path) as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    fcntl.flock(lock, fcntl.LOCK_UN)
                except BlockingIOError:
                    caught_mid_ingest = True
                    break
        time.sleep(0.01)
    assert caught_mid_ingest, "no ingest took the writer lock within 120 s"
    services.kill_child(stack, "flows")
    services.restart_child(stack, "flows")
    deadline = time.monotonic() + 180
    counts = {}
    while time.monotonic() < deadline:
        counts = (read_manifest(settings.snapshot_dir) or {}).get("counts", {})
        if counts.get("passings", 0) >= before + len(passings):
            break
        time.sleep(0.5)
    time.sleep(2)
    snap = read_snapshot(settings.snapshot_dir, "passings")
    assert snap.height == before + len(passings)
    assert snap.select(pl.struct("bib", "point_id").n_unique()).item() == snap.height
