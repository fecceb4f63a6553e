"""Intake test kit (fixtures re-exported by tests/intake and tests/simulate conftests): tokens for each principal, a published course, an app and its client."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest
from fastapi.testclient import TestClient

from racecramp.config import Settings, hash_token, load_settings
from racecramp.intake import create_app
from racecramp.sources.race import read_race

from paths import DATA

RACE_ID = "boston-2017"
DISTANCE_KM = 42.195

# A slice of the Boston course (data/course/boston.csv): point_id -> km.
POINTS_KM = {
    "aid-05mi": 8.047,
    "aid-06mi": 9.656,
    "mat-10k": 10.0,
    "aid-20mi": 32.187,
    "mat-30k": 30.0,
    "med-finish": 42.195,
    "finish": 42.195,
}

TOKENS = {
    "station:boston-2017:aid-05mi": "tok-station-aid05",
    "station:boston-2017:aid-06mi": "tok-station-aid06",
    "feed:timing:boston-2017": "tok-feed-timing",
    "feed:weather:boston-2017": "tok-feed-weather",
    "feed:survey:boston-2017": "tok-feed-survey",
    "command": "tok-command",
}


def bearer(principal: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[principal]}"}


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings with every principal's token hash; the environment must not set RACECRAMP_*."""
    return load_settings(
        data_dir=data_dir,
        token_hashes={name: hash_token(token) for name, token in TOKENS.items()},
        **overrides,
    )


def publish_course(snapshots: Path) -> None:
    """Write the course snapshot the ingest would publish (races + course_points) into `snapshots`."""
    snapshots = Path(snapshots)
    snapshots.mkdir(parents=True, exist_ok=True)
    races, _ = read_race(DATA / "races" / f"{RACE_ID}.toml")  # with its waves: the race window is checked
    races.write_parquet(snapshots / "races.parquet")
    kinds = {"aid": "aid_station", "mat": "timing_mat", "med": "medical_tent", "finish": "finish"}
    pl.DataFrame(
        {
            "race_id": [RACE_ID] * len(POINTS_KM),
            "point_id": list(POINTS_KM),
            "kind": [kinds[p.split("-")[0]] for p in POINTS_KM],
            "km": list(POINTS_KM.values()),
        }
    ).write_parquet(snapshots / "course_points.parquet")


def publish_alerts(snapshots: Path, alert_ids: list[str]) -> None:
    """An alerts snapshot holding these alert ids (alert actions are checked against it)."""
    pl.DataFrame({"alert_id": alert_ids, "race_id": [RACE_ID] * len(alert_ids)}, schema={"alert_id": pl.String, "race_id": pl.String}
                 ).write_parquet(Path(snapshots) / "alerts.parquet")


def report(point_id: str = "aid-05mi", **fields: object) -> dict[str, object]:
    """A valid cramp report at `point_id`, with a fresh report_id."""
    body: dict[str, object] = {
        "report_id": str(uuid.uuid4()),
        "race_id": RACE_ID,
        "source": "aid_station",
        "point_id": point_id,
        "km": POINTS_KM[point_id],
        "bib": "8123",
        "reported_at_utc": "2017-04-17T15:42:00Z",
        "muscle_group": "calf",
        "severity": "moderate",
        "treatment": "stretch_massage",
        "disposition": "returned_to_race",
    }
    body.update(fields)
    return body


def landed(landing_dir: Path, kind: str | None = None) -> list[Path]:
    """Every batch file in the landing zone (of one kind)."""
    root = Path(landing_dir)
    pattern = f"{kind}/*" if kind else "*/*"
    return sorted(p for p in root.glob(pattern) if p.suffix in (".jsonl", ".parquet"))


def landed_records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line)["record"] for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def _no_racecramp_env(tmp_path, monkeypatch):
    """Tests build their settings explicitly: no racecramp.toml, no RACECRAMP_* variables."""
    import os

    for var in [v for v in os.environ if v.startswith("RACECRAMP_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("RACECRAMP_CONFIG", str(tmp_path / "no-config.toml"))


@pytest.fixture
def kit() -> SimpleNamespace:
    """The helpers above, for test modules (tests/ is not a package, so they cannot import them)."""
    return SimpleNamespace(
        RACE_ID=RACE_ID, DISTANCE_KM=DISTANCE_KM, POINTS_KM=POINTS_KM, TOKENS=TOKENS, bearer=bearer,
        make_settings=make_settings, publish_course=publish_course, publish_alerts=publish_alerts, report=report, landed=landed,
        landed_records=landed_records,
    )


@pytest.fixture
def intake_settings(tmp_path) -> Settings:
    settings = make_settings(tmp_path / "var")
    publish_course(settings.snapshot_dir)
    return settings


@pytest.fixture
def client(intake_settings) -> TestClient:
    with TestClient(create_app(intake_settings)) as test_client:
        yield test_client
