"""Issue 3: reports and passings posted to the real intake reach the published snapshot
exactly once, through a real Prefect server and its served ingest deployment."""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import polars as pl
import pytest

from racecramp.landing.bulk import import_race
from racecramp.publish.snapshots import read_snapshot

from paths import DATA
from stack import TOKENS, running_stack, wait_for_counts

pytestmark = pytest.mark.integration

STATIONS = {"aid-20mi": 32.187, "aid-23mi": 37.015, "med-finish": 42.195}
MATS = [("mat-05k", 5.0), ("mat-10k", 10.0), ("mat-15k", 15.0), ("mat-20k", 20.0), ("mat-half", 21.0975),
        ("mat-25k", 25.0), ("mat-30k", 30.0), ("mat-35k", 35.0), ("mat-40k", 40.0), ("finish", 42.195)]
START = datetime(2017, 4, 17, 14, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def stack(stack_settings):
    import_race(stack_settings, DATA / "races" / "boston-2017.toml")  # publishes the course the intake checks against
    with running_stack(stack_settings):
        yield stack_settings


def _auth(principal: str) -> dict:
    return {"Authorization": f"Bearer {TOKENS[principal]}"}


def _report(station: str, i: int) -> dict:
    return {
        "report_id": str(uuid.uuid4()),
        "race_id": "boston-2017",
        "source": "finish_tent" if station == "med-finish" else "aid_station",
        "point_id": station,
        "km": STATIONS[station],
        "bib": str(1000 + i),
        "reported_at_utc": (START + timedelta(minutes=120 + i % 180)).isoformat(),
        "muscle_group": random.choice(["calf", "hamstring", "quadriceps"]),
        "severity": "mild",
        "treatment": "stretch_massage",
        "disposition": "returned_to_race",
    }


def test_500_reports_and_5000_passings_in_bursts_appear_exactly_once(stack):
    base = f"http://{stack.intake_host}:{stack.intake_port}"
    random.seed(7)
    reports = [_report(random.choice(list(STATIONS)), i) for i in range(500)]
    passings = [
        {"race_id": "boston-2017", "bib": str(20000 + r), "point_id": pid, "km": km,
         "net_time_s": km * 330.0, "passed_at_utc": (START + timedelta(seconds=km * 330.0)).isoformat()}
        for r in range(500) for pid, km in MATS
    ]
    with httpx.Client(base_url=base, timeout=30) as client:
        # passings in bursts of 250 from the timing feed
        for i in range(0, len(passings), 250):
            response = client.post("/v1/passings", json={"passings": passings[i:i + 250]}, headers=_auth("feed:timing:boston-2017"))
            assert response.status_code == 202, response.text
        # reports one by one from stations and in batches from the command post; every 10th resent
        for i, report in enumerate(reports[:200]):
            principal = f"station:boston-2017:{report['point_id']}"
            response = client.post("/v1/reports", json=report, headers=_auth(principal))
            assert response.status_code == 202, response.text
            if i % 10 == 0:
                again = client.post("/v1/reports", json=report, headers=_auth(principal))
                assert again.status_code == 202 and again.json() == response.json()
        for i in range(200, 500, 50):
            response = client.post("/v1/reports", json={"reports": reports[i:i + 50]}, headers=_auth("command"))
            assert response.status_code == 202, response.text
    wait_for_counts(stack, {"cramp_reports": 500, "passings": 5000}, timeout_s=180, every_s=0.5)
    time.sleep(3)  # anything still arriving would be a double count
    snap_reports = read_snapshot(stack.snapshot_dir, "cramp_reports")
    snap_passings = read_snapshot(stack.snapshot_dir, "passings")
    assert snap_reports.height == 500
    assert set(snap_reports["report_id"].cast(pl.String)) == {r["report_id"] for r in reports}
    assert snap_passings.height == 5000
    assert snap_passings.select(pl.struct("bib", "point_id").n_unique()).item() == 5000


def test_rejected_requests_never_reach_the_warehouse(stack):
    base = f"http://{stack.intake_host}:{stack.intake_port}"
    before = read_snapshot(stack.snapshot_dir, "cramp_reports").height
    with httpx.Client(base_url=base, timeout=30) as client:
        forbidden = client.post("/v1/reports", json=_report("aid-20mi", 1), headers=_auth("station:boston-2017:aid-23mi"))
        assert forbidden.status_code == 403
        malformed = client.post("/v1/reports", content=b'{"report_id": ', headers={**_auth("command"), "Content-Type": "application/json"})
        assert malformed.status_code in (400, 422)
        wrong_type = client.post("/v1/reports", json={**_report("aid-23mi", 2), "km": "far"}, headers=_auth("command"))
        assert wrong_type.status_code == 422 and "km" in wrong_type.text
        off_course = client.post("/v1/reports", json={**_report("aid-23mi", 3), "km": 99.0}, headers=_auth("command"))
        assert off_course.status_code == 422 and "km" in off_course.text
        # shape is fine, but a dew point above the air temperature fails the pandera check
        weather = client.post("/v1/weather", json={
            "source": "test-station", "location": "Hopkinton", "observed_at_utc": "2017-04-17T14:00:00+00:00",
            "temp_c": 10.0, "dew_point_c": 15.0, "race_id": "boston-2017"}, headers=_auth("feed:weather:boston-2017"))
        assert weather.status_code == 202, weather.text
    deadline = time.monotonic() + 120
    quarantine = pl.DataFrame()
    while time.monotonic() < deadline:
        try:
            quarantine = read_snapshot(stack.snapshot_dir, "quarantine")
        except FileNotFoundError:
            quarantine = pl.DataFrame()
        if quarantine.height and quarantine["message"].str.contains("dew point").any():
            break
        time.sleep(0.5)
    assert quarantine.height and quarantine["message"].str.contains("dew point").any()
    assert read_snapshot(stack.snapshot_dir, "cramp_reports").height == before
