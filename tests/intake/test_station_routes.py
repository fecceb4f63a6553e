"""GET /v1/station and the station app's files, over HTTP (FastAPI TestClient)."""

from __future__ import annotations

import json
import re

import polars as pl
from fastapi.testclient import TestClient

from racecramp.config import hash_token
from racecramp.domain import MUSCLE_GROUPS, TREATMENTS, Disposition, Severity
from racecramp.intake import create_app
from racecramp.intake.station_routes import SHELL_FILES, _shell_version, race_stations
from racecramp.landing.bulk import import_race

from paths import DATA

# ---- GET /v1/station -------------------------------------------------------------------------


def test_a_station_token_is_told_its_station_race_and_the_form_choices(client, kit):
    response = client.get("/v1/station", headers=kit.bearer("station:boston-2017:aid-05mi"))
    assert response.status_code == 200
    answer = response.json()
    assert answer["principal"] == "station:boston-2017:aid-05mi"
    assert answer["race_id"] == kit.RACE_ID
    own = {"point_id": "aid-05mi", "label": "aid-05mi", "km": 8.047, "kind": "aid_station", "source": "aid_station"}
    assert answer["station"] == own and answer["stations"] == [own]
    fields = {f["name"]: f for f in answer["fields"]}
    assert [c["value"] for c in fields["muscle_group"]["choices"]] == list(MUSCLE_GROUPS)
    assert [c["value"] for c in fields["severity"]["choices"]] == [s.value for s in Severity]
    assert [c["value"] for c in fields["treatment"]["choices"]] == list(TREATMENTS)
    assert [c["value"] for c in fields["disposition"]["choices"]] == [d.value for d in Disposition]
    assert {name: f["default"] for name, f in fields.items()} == {
        "muscle_group": "calf", "severity": "mild", "treatment": "stretch_massage", "disposition": "returned_to_race",
    }
    assert {"value": "iv_fluids", "label": "IV fluids"} in fields["treatment"]["choices"]


def test_command_gets_every_aid_station_and_medical_tent_by_km_and_no_station_of_its_own(client, kit):
    answer = client.get("/v1/station", headers=kit.bearer("command")).json()
    assert answer["principal"] == "command" and answer["station"] is None
    # timing mats and the finish line are not stations; the medical tent reports as finish_tent
    assert [(s["point_id"], s["source"]) for s in answer["stations"]] == [
        ("aid-05mi", "aid_station"), ("aid-06mi", "aid_station"), ("aid-20mi", "aid_station"), ("med-finish", "finish_tent"),
    ]


def test_station_labels_come_from_the_published_course(tmp_path, kit):
    settings = kit.make_settings(tmp_path / "var")
    kit.publish_course(settings.snapshot_dir)
    points = pl.read_parquet(settings.snapshot_dir / "course_points.parquet")
    points.with_columns(pl.format("Aid {}", pl.col("point_id")).alias("label")).write_parquet(settings.snapshot_dir / "course_points.parquet")
    with TestClient(create_app(settings)) as test_client:
        answer = test_client.get("/v1/station", headers=kit.bearer("station:boston-2017:aid-06mi")).json()
    assert answer["station"]["label"] == "Aid aid-06mi" and answer["station"]["km"] == 9.656


def test_no_token_or_an_unknown_token_is_401(client):
    for headers in ({}, {"Authorization": "Bearer nobody-has-this"}):
        response = client.get("/v1/station", headers=headers)
        assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"


def test_a_station_token_is_told_its_own_race_not_the_configured_one(boston_2017):
    import_race(boston_2017, DATA / "races" / "boston-2018.toml")
    settings = boston_2017.model_copy(update={"token_hashes": {"station:boston-2018:aid-20mi": hash_token("tok-2018")}})
    assert settings.race_id == "boston-2017"
    with TestClient(create_app(settings)) as test_client:
        answer = test_client.get("/v1/station", headers={"Authorization": "Bearer tok-2018"}).json()
    assert answer["race_id"] == "boston-2018" and answer["station"]["point_id"] == "aid-20mi"


def test_a_feed_token_is_403_naming_it(client, kit):
    response = client.get("/v1/station", headers=kit.bearer("feed:timing:boston-2017"))
    assert response.status_code == 403
    assert "'feed:timing:boston-2017' may not post reports" in response.json()["detail"]


def test_a_station_that_is_not_on_the_course_is_403_naming_it_and_the_race(tmp_path, kit):
    settings = kit.make_settings(tmp_path / "var")
    settings = settings.model_copy(update={"token_hashes": {**settings.token_hashes, "station:boston-2017:aid-99mi": hash_token("tok-99")}})
    kit.publish_course(settings.snapshot_dir)
    with TestClient(create_app(settings)) as test_client:
        response = test_client.get("/v1/station", headers={"Authorization": "Bearer tok-99"})
    assert response.status_code == 403
    detail = response.json()["detail"]
    assert "'aid-99mi'" in detail and kit.RACE_ID in detail and "aid-05mi" in detail


def test_a_race_that_is_not_in_the_course_is_403(tmp_path, kit):
    settings = kit.make_settings(tmp_path / "var", race_id="chicago-2018")
    kit.publish_course(settings.snapshot_dir)
    with TestClient(create_app(settings)) as test_client:
        response = test_client.get("/v1/station", headers=kit.bearer("command"))
    assert response.status_code == 403 and "'chicago-2018' has no aid station" in response.json()["detail"]


def test_before_a_course_is_published_it_is_503(tmp_path, kit):
    with TestClient(create_app(kit.make_settings(tmp_path / "var"))) as test_client:
        response = test_client.get("/v1/station", headers=kit.bearer("station:boston-2017:aid-05mi"))
    assert response.status_code == 503 and "no course published yet" in response.json()["detail"]


def test_race_stations_names_a_point_without_a_label_by_its_id():
    course = pl.DataFrame({
        "race_id": ["r", "r", "r", "other"], "point_id": ["aid-2", "aid-1", "mat-1", "aid-9"],
        "kind": ["aid_station", "aid_station", "timing_mat", "aid_station"], "km": [2.0, 1.0, 1.5, 9.0],
    })
    labels = pl.DataFrame({"race_id": ["r", "r"], "point_id": ["aid-1", "aid-2"], "label": ["Aid one", None]})
    assert [(s.point_id, s.label, s.km) for s in race_stations(course, labels, "r")] == [("aid-1", "Aid one", 1.0), ("aid-2", "aid-2", 2.0)]
    assert [s.label for s in race_stations(course, None, "r")] == ["aid-1", "aid-2"]


# ---- the app's files -------------------------------------------------------------------------


def test_the_app_page_is_served_with_a_strict_content_security_policy(client):
    response = client.get("/station/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-cache"
    assert '<link rel="manifest" href="manifest.webmanifest">' in response.text


def test_station_without_the_slash_redirects_to_the_app(client):
    response = client.get("/station", follow_redirects=False)
    assert response.status_code == 308 and response.headers["location"] == "/station/"


def test_every_file_the_service_worker_caches_is_served(client):
    shell = client.get("/station/shell.js")
    assert shell.status_code == 200
    listed = re.search(r'"files": (\[[^\]]*\])', shell.text)
    assert listed is not None
    files = json.loads(listed.group(1))
    assert files == ["/station/", *(f"/station/{name}" for name in SHELL_FILES)]
    for path in files:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].split(";")[0] == (SHELL_FILES.get(path.removeprefix("/station/")) or "text/html").split(";")[0]


def test_the_service_worker_may_control_the_whole_app(client):
    response = client.get("/station/sw.js")
    assert response.status_code == 200 and response.headers["Service-Worker-Allowed"] == "/station/"
    assert 'importScripts("shell.js")' in response.text


def test_files_outside_the_app_are_404(client):
    for path in ("/station/../app.py", "/station/station_routes.py", "/station/vendor/README.md", "/station/nothing.js"):
        assert client.get(path).status_code == 404, path


def test_the_shell_version_changes_with_any_file():
    files = {"app.js": b"one", "styles.css": b"two"}
    assert _shell_version(files) == _shell_version(dict(files))
    assert _shell_version(files) != _shell_version({**files, "app.js": b"one!"})
    assert _shell_version(files) != _shell_version({"app.js": b"two", "styles.css": b"one"})


def test_a_replay_drill_tells_the_app_the_replayed_race_clock_and_a_live_race_does_not():
    from datetime import UTC, datetime, timedelta

    from racecramp.intake.station_routes import drill_race_clock

    wall = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    replayed = datetime(2017, 4, 17, 15, 0, tzinfo=UTC)
    status = pl.DataFrame({"race_id": ["boston-2017", "boston-2017", "live-2026"],
                           "race_clock_utc": [replayed, replayed, wall - timedelta(seconds=30)]})
    assert drill_race_clock(status, "boston-2017", wall) == replayed
    assert drill_race_clock(status, "live-2026", wall) is None
    assert drill_race_clock(None, "boston-2017", wall) is None
