"""A small race day in a data dir, built once per worker and copied for each test that needs one
(fixtures re-exported by the tests/warehouse and tests/cli conftests)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from racecramp import landing
from racecramp.config import Settings, load_settings
from racecramp.landing.bulk import import_race, ingest_now
from racecramp.publish.snapshots import read_snapshot

from paths import DATA

GUN = datetime(2017, 4, 17, 14, 0, tzinfo=UTC)  # 10:00 local, wave 1
MATS_KM = {"mat-05k": 5.0, "mat-10k": 10.0, "mat-15k": 15.0}


def _passings(bibs: range) -> list[dict]:
    return [
        {"race_id": "boston-2017", "bib": str(bib), "point_id": point, "km": km, "net_time_s": km * 330.0,
         "passed_at_utc": (GUN + timedelta(seconds=km * 330.0)).isoformat(), "simulated": True}
        for bib in bibs for point, km in MATS_KM.items()
    ]


def _report(n: int, bib: str | None) -> dict:
    return {"report_id": f"00000000-0000-4000-8000-{n:012d}", "race_id": "boston-2017", "source": "aid_station",
            "point_id": "aid-05mi", "km": 8.047, "bib": bib, "reported_at_utc": (GUN + timedelta(minutes=40 + n)).isoformat(),
            "muscle_group": "calf", "severity": "mild", "treatment": "stretch_massage", "disposition": "returned_to_race",
            "entered_by": "aid-05mi", "simulated": True}


def _weather(at: datetime) -> dict:
    return {"source": "open-meteo", "location": "Boston", "observed_at_utc": at.isoformat(), "temp_c": 21.0,
            "dew_point_c": 5.0, "race_id": "boston-2017", "interpolated": False, "simulated": True}


def build_race_day(settings: Settings) -> None:
    """Four ingest runs, as a live day has: the race and a weather reading before the gun; passings
    and reports (one passing off its mat's km, so quarantined); an alert acknowledged (the weather
    went stale); a new weather observation."""
    import_race(settings, DATA / "races" / "boston-2017.toml")
    landing.append_records(settings.landing_dir, "weather", [_weather(GUN - timedelta(minutes=10))], source="intake:feed:weather")
    bad = {**_passings(range(9000, 9001))[0], "km": 30.0}
    landing.append_records(settings.landing_dir, "passings", _passings(range(101, 131)) + [bad], source="intake:feed:timing")
    landing.append_records(settings.landing_dir, "reports", [_report(1, "101"), _report(2, None)], source="intake:station:aid-05mi")
    ingest_now(settings)
    alerts = read_snapshot(settings.snapshot_dir, "alerts")
    assert alerts.height, "the race day should raise an alert (the 13:50 weather reading is stale by 15:22)"
    landing.append_records(settings.landing_dir, "alert_actions", [{
        "alert_id": alerts["alert_id"][0], "action": "acknowledge", "by": "command",
        "at_utc": (GUN + timedelta(minutes=50)).isoformat()}], source="intake:command")
    ingest_now(settings)
    landing.append_records(settings.landing_dir, "weather", [_weather(GUN + timedelta(minutes=30))], source="intake:feed:weather")
    ingest_now(settings)


@pytest.fixture(scope="session")
def race_day_template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("race-day")
    build_race_day(load_settings(data_dir=root / "var"))
    return root / "var"


@pytest.fixture
def race_day(race_day_template, tmp_path) -> Settings:
    """Settings of a fresh copy of the small race day (snapshots, landing zone, warehouse)."""
    shutil.copytree(race_day_template, tmp_path / "var")
    return load_settings(data_dir=tmp_path / "var")
