"""The intake over HTTP (FastAPI TestClient) and over a real uvicorn on loopback."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from racecramp.config import hash_token
from racecramp.intake import create_app
from racecramp.intake.idempotency import IdempotencyIndex
from racecramp.intake.models import MAX_BATCH_RECORDS
from racecramp.landing.bulk import import_race

from paths import DATA

RACE_ID = "boston-2017"
DROP = object()  # marks a field to leave out of a report


# ---- reports ---------------------------------------------------------------------------------


def test_accepted_report_is_in_a_landed_batch_file(client, intake_settings, kit):
    body = kit.report("aid-05mi")
    response = client.post("/v1/reports", json=body, headers=kit.bearer("station:boston-2017:aid-05mi"))
    assert response.status_code == 202
    answer = response.json()
    assert answer["accepted"] == 1 and answer["report_ids"] == [body["report_id"]]
    files = kit.landed(intake_settings.landing_dir, "reports")
    assert len(files) == 1 and answer["batch_id"] in files[0].name
    (record,) = kit.landed_records(files[0])
    assert record["report_id"] == body["report_id"] and record["km"] == 8.047
    # entered_by defaults to the station, simulated to false
    assert record["entered_by"] == "aid-05mi" and record["simulated"] is False


def test_report_time_is_stored_in_utc(client, intake_settings, kit):
    body = kit.report(reported_at_utc="2017-04-17T11:42:00-04:00")
    assert client.post("/v1/reports", json=body, headers=kit.bearer("station:boston-2017:aid-05mi")).status_code == 202
    (record,) = kit.landed_records(kit.landed(intake_settings.landing_dir, "reports")[0])
    assert record["reported_at_utc"] == "2017-04-17T15:42:00Z"


def test_duplicate_post_lands_once_and_gets_the_same_answer(client, intake_settings, kit):
    body = kit.report()
    first = client.post("/v1/reports", json=body, headers=kit.bearer("station:boston-2017:aid-05mi"))
    retry = client.post("/v1/reports", json=body, headers=kit.bearer("station:boston-2017:aid-05mi"))
    assert first.status_code == retry.status_code == 202
    assert retry.content == first.content
    assert len(kit.landed(intake_settings.landing_dir, "reports")) == 1


def test_retried_batch_gets_the_same_answer_and_lands_once(client, intake_settings, kit):
    batch = {"reports": [kit.report(), kit.report(bib="77")]}
    first = client.post("/v1/reports", json=batch, headers=kit.bearer("station:boston-2017:aid-05mi"))
    retry = client.post("/v1/reports", json=batch, headers=kit.bearer("station:boston-2017:aid-05mi"))
    assert first.status_code == retry.status_code == 202 and retry.content == first.content
    assert first.json()["accepted"] == 2
    (only,) = kit.landed(intake_settings.landing_dir, "reports")
    assert len(kit.landed_records(only)) == 2


def test_same_report_id_with_other_contents_is_409_naming_it(client, intake_settings, kit):
    body = kit.report(severity="mild")
    assert client.post("/v1/reports", json=body, headers=kit.bearer("station:boston-2017:aid-05mi")).status_code == 202
    changed = dict(body, severity="severe")
    response = client.post("/v1/reports", json=changed, headers=kit.bearer("station:boston-2017:aid-05mi"))
    assert response.status_code == 409
    assert body["report_id"] in response.json()["detail"]
    assert len(kit.landed(intake_settings.landing_dir, "reports")) == 1


def test_batch_with_an_already_received_report_lands_only_the_new_one(client, intake_settings, kit):
    old = kit.report()
    client.post("/v1/reports", json=old, headers=kit.bearer("station:boston-2017:aid-05mi"))
    new = kit.report(bib="9001")
    response = client.post("/v1/reports", json={"reports": [old, new]}, headers=kit.bearer("station:boston-2017:aid-05mi"))
    assert response.status_code == 202
    assert response.json()["already_received"] == [old["report_id"]]
    files = kit.landed(intake_settings.landing_dir, "reports")
    assert len(files) == 2
    assert [r["report_id"] for r in kit.landed_records(files[1])] == [new["report_id"]]


def test_a_report_repeated_inside_one_batch_lands_once(client, intake_settings, kit):
    body = kit.report()
    response = client.post("/v1/reports", json={"reports": [body, body]}, headers=kit.bearer("station:boston-2017:aid-05mi"))
    assert response.status_code == 202 and response.json()["report_ids"] == [body["report_id"]]
    assert len(kit.landed_records(kit.landed(intake_settings.landing_dir, "reports")[0])) == 1


def test_station_token_cannot_post_for_another_station(client, intake_settings, kit):
    response = client.post("/v1/reports", json=kit.report("aid-06mi"), headers=kit.bearer("station:boston-2017:aid-05mi"))
    assert response.status_code == 403
    detail = response.json()["detail"]
    assert "aid-05mi" in detail and "aid-06mi" in detail
    assert kit.landed(intake_settings.landing_dir) == []


@pytest.fixture
def two_races(boston_2017):
    """Boston 2017 and 2018 both published, a station token of each race for aid-20mi, Boston 2017's feeds."""
    import_race(boston_2017, DATA / "races" / "boston-2018.toml")
    tokens = {f"station:{race}:aid-20mi": f"tok-{race}-aid20" for race in ("boston-2017", "boston-2018")}
    tokens |= {f"feed:{feed}:boston-2017": f"tok-{feed}-2017" for feed in ("timing", "weather", "survey")}
    settings = boston_2017.model_copy(update={"token_hashes": {p: hash_token(t) for p, t in tokens.items()}})
    with TestClient(create_app(settings)) as client:
        yield settings, client, {p: {"Authorization": f"Bearer {t}"} for p, t in tokens.items()}


def test_a_report_sent_with_one_races_station_token_for_another_race_is_403_naming_both(two_races, kit):
    settings, client, bearer = two_races
    before = kit.landed(settings.landing_dir)
    report = kit.report("aid-20mi", race_id="boston-2018", reported_at_utc="2018-04-16T15:42:00Z")
    response = client.post("/v1/reports", json={"reports": [report]}, headers=bearer["station:boston-2017:aid-20mi"])
    assert response.status_code == 403
    detail = response.json()["detail"]
    assert "reports[0].race_id='boston-2018'" in detail and "belongs to race 'boston-2017'" in detail
    assert kit.landed(settings.landing_dir) == before
    assert client.post("/v1/reports", json=report, headers=bearer["station:boston-2018:aid-20mi"]).status_code == 202


def test_a_feed_token_posts_for_its_own_race_only(two_races, kit):
    settings, client, bearer = two_races
    before = kit.landed(settings.landing_dir)
    passing = {"race_id": "boston-2018", "bib": "1", "point_id": "mat-10k", "net_time_s": 3000.0}
    response = client.post("/v1/passings", json={"passings": [passing]}, headers=bearer["feed:timing:boston-2017"])
    assert response.status_code == 403 and "passings[0].race_id='boston-2018'" in response.json()["detail"]
    weather = client.post("/v1/weather", json=dict(WEATHER, race_id="boston-2018"), headers=bearer["feed:weather:boston-2017"])
    assert weather.status_code == 403 and "race_id='boston-2018'" in weather.json()["detail"]
    survey = client.post("/v1/survey", files={"file": ("s.csv", "race_id,bib,cramped\nboston-2018,1,false\n")},
                         headers=bearer["feed:survey:boston-2017"])
    assert survey.status_code == 403 and "file.row 2.race_id='boston-2018'" in survey.json()["detail"]
    assert kit.landed(settings.landing_dir) == before


def test_weather_from_a_races_feed_without_race_id_is_that_races(client, intake_settings, kit):
    assert "race_id" not in WEATHER
    assert client.post("/v1/weather", json=WEATHER, headers=kit.bearer("feed:weather:boston-2017")).status_code == 202
    (record,) = kit.landed_records(kit.landed(intake_settings.landing_dir, "weather")[0])
    assert record["race_id"] == kit.RACE_ID


def test_command_token_may_post_for_any_station(client, intake_settings, kit):
    response = client.post("/v1/reports", json=kit.report("aid-06mi"), headers=kit.bearer("command"))
    assert response.status_code == 202
    (record,) = kit.landed_records(kit.landed(intake_settings.landing_dir, "reports")[0])
    assert record["point_id"] == "aid-06mi"


@pytest.mark.parametrize(
    "authorization", [None, "Bearer not-a-token", "Basic tok-command"], ids=["no-token", "unknown-token", "not-bearer"]
)
def test_missing_or_bad_token_is_401_and_lands_nothing(client, intake_settings, kit, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.post("/v1/reports", json=kit.report(), headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert kit.landed(intake_settings.landing_dir) == []


def test_a_feed_token_cannot_post_reports(client, intake_settings, kit):
    response = client.post("/v1/reports", json=kit.report(), headers=kit.bearer("feed:timing:boston-2017"))
    assert response.status_code == 403 and "feed:timing:boston-2017" in response.json()["detail"]
    assert kit.landed(intake_settings.landing_dir) == []


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"km": "far"}, "km", "valid number"),
        ({"km": -3}, "km", "greater than or equal to 0"),
        ({"point_id": "med-finish", "km": 43.5}, "km", "beyond the finish: expected 0 <= km <= 42.195"),
        ({"km": 20.0}, "km", "does not match aid-05mi at km 8.047"),
        ({"race_id": "boston-1897"}, "race_id", "no such race"),
        ({"severity": "terrible"}, "severity", "'mild', 'moderate' or 'severe'"),
        ({"reported_at_utc": "2017-04-17T15:42:00"}, "reported_at_utc", "timezone"),
        ({"report_id": "not-a-uuid"}, "report_id", "UUID"),
        ({"bib": ["8123"]}, "bib", "valid string"),
        ({"simulated": "no"}, "simulated", "valid boolean"),
        ({"musclegroup": "calf"}, "musclegroup", "Extra inputs"),
        ({"disposition": DROP}, "disposition", "field required"),
        ({"reported_at_utc": "2071-04-17T15:42:00Z"}, "reported_at_utc", "outside boston-2017's window: expected between 2017-04-17 06:32"),
        ({"reported_at_utc": "2016-04-17T15:42:00Z"}, "reported_at_utc", "America/New_York (2017-04-17 10:32"),
    ],
    ids=[
        "km-text", "km-negative", "km-beyond-finish", "km-far-from-point", "unknown-race", "bad-enum",
        "naive-time", "bad-uuid", "bib-list", "flag-text", "unknown-field", "missing-field", "year-typo-ahead",
        "year-typo-behind",
    ],
)
def test_bad_report_is_422_naming_the_field_and_lands_nothing(client, intake_settings, kit, changes, field, words):
    body = {k: v for k, v in {**kit.report(), **changes}.items() if v is not DROP}
    response = client.post("/v1/reports", json=body, headers=kit.bearer("command"))
    assert response.status_code == 422
    problems = response.json()["detail"]
    assert any(p["field"] == field and p["msg"].startswith(field) and words in p["msg"] for p in problems), problems
    assert kit.landed(intake_settings.landing_dir) == []


def test_unknown_point_is_422_naming_point_id(client, intake_settings, kit):
    response = client.post("/v1/reports", json=dict(kit.report(), point_id="aid-99mi"), headers=kit.bearer("command"))
    assert response.status_code == 422
    assert [p["field"] for p in response.json()["detail"]] == ["point_id"]


def test_a_bad_report_in_a_batch_is_named_by_its_position(client, intake_settings, kit):
    batch = {"reports": [kit.report(), kit.report(km=-1)]}
    response = client.post("/v1/reports", json=batch, headers=kit.bearer("station:boston-2017:aid-05mi"))
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["field"] == "reports[1].km" and problem["loc"] == ["body", "reports", 1, "km"]
    assert problem["msg"].startswith("reports[1].km=-1:")
    assert kit.landed(intake_settings.landing_dir) == []


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"report_id": ', "not valid JSON"),
        (b"", "empty body"),
        (b"[1, 2", "not valid JSON"),
        (b'{"km": NaN}', "not valid JSON"),
        (b'{"km": 1e999}', "not valid JSON"),
        (b'{"bib": "\\ud800"}', "unpaired UTF-16 surrogate"),
    ],
    ids=["truncated", "empty", "unclosed-list", "nan", "overflow", "lone-surrogate"],
)
def test_malformed_json_is_422_naming_the_body(client, intake_settings, kit, raw, words):
    headers = {**kit.bearer("command"), "Content-Type": "application/json"}
    response = client.post("/v1/reports", content=raw, headers=headers)
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["field"] == "body" and words in problem["msg"]
    assert kit.landed(intake_settings.landing_dir) == []


def test_no_published_course_is_503_and_lands_nothing(tmp_path, kit):
    settings = kit.make_settings(tmp_path / "var")
    with TestClient(create_app(settings)) as client:
        response = client.post("/v1/reports", json=kit.report(), headers=kit.bearer("station:boston-2017:aid-05mi"))
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "no course published yet" in detail and "racecramp import course" in detail
    assert kit.landed(settings.landing_dir) == []


def test_a_newly_published_course_is_used_without_restart(tmp_path, kit):
    settings = kit.make_settings(tmp_path / "var")
    with TestClient(create_app(settings)) as client:
        body = kit.report()
        assert client.post("/v1/reports", json=body, headers=kit.bearer("command")).status_code == 503
        kit.publish_course(settings.snapshot_dir)
        assert client.post("/v1/reports", json=body, headers=kit.bearer("command")).status_code == 202


# ---- passings, weather, survey, alert actions ----------------------------------------------


def passing(bib: object, point_id: str = "mat-10k", **fields: object) -> dict[str, object]:
    return {"race_id": RACE_ID, "bib": bib, "point_id": point_id, "net_time_s": 2400.0, **fields}


def test_passings_batch_lands_with_the_points_km(client, intake_settings, kit):
    batch = {"passings": [passing("101"), passing(102, km=10.2, passed_at_utc="2017-04-17T14:40:00Z")]}
    response = client.post("/v1/passings", json=batch, headers=kit.bearer("feed:timing:boston-2017"))
    assert response.status_code == 202 and response.json()["accepted"] == 2
    records = kit.landed_records(kit.landed(intake_settings.landing_dir, "passings")[0])
    # km omitted -> the point's km; a numeric bib is stored as text
    assert [(r["bib"], r["km"]) for r in records] == [("101", 10.0), ("102", 10.2)]


def test_passing_at_an_unknown_point_is_422_naming_its_position(client, intake_settings, kit):
    batch = {"passings": [passing("101"), passing("102", point_id="mat-99k")]}
    response = client.post("/v1/passings", json=batch, headers=kit.bearer("feed:timing:boston-2017"))
    assert response.status_code == 422
    assert [p["field"] for p in response.json()["detail"]] == ["passings[1].point_id"]
    assert kit.landed(intake_settings.landing_dir) == []


def test_passings_need_the_timing_token(client, intake_settings, kit):
    response = client.post("/v1/passings", json={"passings": [passing("1")]}, headers=kit.bearer("feed:weather:boston-2017"))
    assert response.status_code == 403
    assert kit.landed(intake_settings.landing_dir) == []


def test_too_many_records_in_one_request_is_413(client, intake_settings, kit):
    batch = {"passings": [passing(str(i)) for i in range(MAX_BATCH_RECORDS + 1)]}
    response = client.post("/v1/passings", json=batch, headers=kit.bearer("feed:timing:boston-2017"))
    assert response.status_code == 413 and str(MAX_BATCH_RECORDS) in response.json()["detail"]
    assert kit.landed(intake_settings.landing_dir) == []


def test_start_list_lands_for_the_timing_feed(client, intake_settings, kit):
    roster = {"participants": [{"race_id": "boston-2017", "bib": 101, "sex": "F", "age": 34}, {"race_id": "boston-2017", "bib": "102"}]}
    response = client.post("/v1/participants", json=roster, headers=kit.bearer("feed:timing:boston-2017"))
    assert response.status_code == 202 and response.json()["accepted"] == 2
    records = kit.landed_records(kit.landed(intake_settings.landing_dir, "participants")[0])
    assert [(r["bib"], r["sex"], r["age"], r["finished"]) for r in records] == [("101", "F", 34, False), ("102", None, None, False)]


def test_start_list_for_an_unknown_race_or_with_bad_age_is_422_and_lands_nothing(client, intake_settings, kit):
    unknown = {"participants": [{"race_id": "boston-2017", "bib": "1"}, {"race_id": "nyc-2017", "bib": "2"}]}
    response = client.post("/v1/participants", json=unknown, headers=kit.bearer("command"))  # a feed's token: 403 for nyc-2017
    assert response.status_code == 422 and [p["field"] for p in response.json()["detail"]] == ["participants[1].race_id"]
    too_young = {"participants": [{"race_id": "boston-2017", "bib": "1", "age": 4}]}
    response = client.post("/v1/participants", json=too_young, headers=kit.bearer("feed:timing:boston-2017"))
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "participants[0].age"
    response = client.post("/v1/participants", json={"participants": [{"race_id": "boston-2017", "bib": "1"}]}, headers=kit.bearer("station:boston-2017:aid-05mi"))
    assert response.status_code == 403
    assert kit.landed(intake_settings.landing_dir) == []


WEATHER = {"source": "open-meteo", "location": "Hopkinton", "observed_at_utc": "2017-04-17T14:00:00Z", "temp_c": 21.5}


def test_weather_accepts_one_observation_or_a_batch(client, intake_settings, kit):
    one = client.post("/v1/weather", json=WEATHER, headers=kit.bearer("feed:weather:boston-2017"))
    later = dict(WEATHER, observed_at_utc="2017-04-17T14:10:00+00:00", temp_c=22.0)
    many = client.post("/v1/weather", json={"observations": [WEATHER, later]}, headers=kit.bearer("feed:weather:boston-2017"))
    assert (one.status_code, many.status_code) == (202, 202)
    assert (one.json()["accepted"], many.json()["accepted"]) == (1, 2)
    files = kit.landed(intake_settings.landing_dir, "weather")
    assert [len(kit.landed_records(f)) for f in files] == [1, 2]
    assert kit.landed_records(files[0])[0]["interpolated"] is False


def test_weather_with_text_temperature_is_422_naming_temp_c(client, intake_settings, kit):
    response = client.post("/v1/weather", json=dict(WEATHER, temp_c="warm"), headers=kit.bearer("feed:weather:boston-2017"))
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "temp_c"
    assert kit.landed(intake_settings.landing_dir) == []


SURVEY_CSV = (
    "race_id,bib,name,cramped,onset_km,muscles,weekly_km\n"
    "boston-2017,101,Jane Doe,true,35.5,calf,60\n"
    "boston-2017,102,John Roe,maybe,,,45\n"
)


def test_survey_rows_land_even_when_a_value_is_bad_and_names_are_dropped(client, intake_settings, kit):
    files = {"file": ("survey.csv", SURVEY_CSV, "text/csv")}
    response = client.post("/v1/survey", files=files, headers=kit.bearer("feed:survey:boston-2017"))
    assert response.status_code == 202
    assert response.json()["accepted"] == 2 and response.json()["ignored_columns"] == ["name"]
    (batch_file,) = kit.landed(intake_settings.landing_dir, "survey")
    records = kit.landed_records(batch_file)
    # the bad 'cramped' value lands as sent: the ingest quarantines that row with its reason
    assert [r["cramped"] for r in records] == ["true", "maybe"]
    assert records[1]["onset_km"] is None and records[0]["onset_km"] == "35.5"
    assert "Jane" not in batch_file.read_text() and all("name" not in r for r in records)


def test_survey_rows_without_race_id_are_the_survey_feeds_race(client, intake_settings, kit):
    response = client.post("/v1/survey", files={"file": ("s.csv", "bib,cramped\n101,false\n")},
                           headers=kit.bearer("feed:survey:boston-2017"))
    assert response.status_code == 202
    records = kit.landed_records(kit.landed(intake_settings.landing_dir, "survey")[0])
    assert records == [{"bib": "101", "cramped": "false", "race_id": RACE_ID}]


def test_survey_race_id_can_come_from_the_form(client, intake_settings, kit):
    response = client.post(
        "/v1/survey", files={"file": ("s.csv", "bib,cramped\n101,false\n")}, data={"race_id": RACE_ID},
        headers=kit.bearer("feed:survey:boston-2017"),
    )
    assert response.status_code == 202
    records = kit.landed_records(kit.landed(intake_settings.landing_dir, "survey")[0])
    assert records == [{"bib": "101", "cramped": "false", "race_id": RACE_ID}]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("bib,onset_km\n101,30\n", "lacks required column(s) cramped"),  # race_id: the survey feed's race
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00", "CSV"),
        ("", "empty file"),
    ],
    ids=["missing-columns", "binary", "empty"],
)
def test_survey_file_that_is_not_a_survey_csv_is_422(client, intake_settings, kit, content, words):
    response = client.post("/v1/survey", files={"file": ("x.csv", content)}, headers=kit.bearer("feed:survey:boston-2017"))
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["field"] == "file" and words in problem["msg"]
    assert kit.landed(intake_settings.landing_dir) == []


def test_alert_action_lands_for_the_command_token_only(client, intake_settings, kit):
    kit.publish_alerts(intake_settings.snapshot_dir, ["load-aid-20mi-1"])
    action = {"action": "acknowledge", "by": "dr-lee"}
    denied = client.post("/v1/alerts/load-aid-20mi-1/actions", json=action, headers=kit.bearer("station:boston-2017:aid-05mi"))
    assert denied.status_code == 403 and kit.landed(intake_settings.landing_dir) == []
    response = client.post("/v1/alerts/load-aid-20mi-1/actions", json=action, headers=kit.bearer("command"))
    assert response.status_code == 202
    (record,) = kit.landed_records(kit.landed(intake_settings.landing_dir, "alert_actions")[0])
    assert (record["alert_id"], record["action"], record["by"]) == ("load-aid-20mi-1", "acknowledge", "dr-lee")


def test_an_action_on_an_unknown_alert_is_404_and_lands_nothing(client, intake_settings, kit):
    action = {"action": "acknowledge", "by": "dr-lee"}
    before = client.post("/v1/alerts/load-aid-20mi-1/actions", json=action, headers=kit.bearer("command"))
    assert before.status_code == 404 and "no alerts are published yet" in before.json()["detail"]
    kit.publish_alerts(intake_settings.snapshot_dir, ["load-aid-20mi-1"])
    unknown = client.post("/v1/alerts/load-aid-99mi-7/actions", json=action, headers=kit.bearer("command"))
    assert unknown.status_code == 404 and "alert_id='load-aid-99mi-7'" in unknown.json()["detail"]
    assert kit.landed(intake_settings.landing_dir) == []


def test_alert_action_must_be_acknowledge_or_resolve(client, intake_settings, kit):
    response = client.post("/v1/alerts/a1/actions", json={"action": "ignore", "by": "x"}, headers=kit.bearer("command"))
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "action"
    assert kit.landed(intake_settings.landing_dir) == []


# ---- size limits, callbacks, health --------------------------------------------------------


@pytest.fixture
def small_limit_settings(tmp_path, kit):
    settings = kit.make_settings(tmp_path / "var", intake_max_body_bytes=2048)
    kit.publish_course(settings.snapshot_dir)
    return settings


def test_body_over_the_limit_is_413_by_content_length(small_limit_settings, kit):
    big = {"reports": [kit.report() for _ in range(20)]}
    with TestClient(create_app(small_limit_settings)) as client:
        response = client.post("/v1/reports", json=big, headers=kit.bearer("command"))
    assert response.status_code == 413 and "2048" in response.json()["detail"]
    assert kit.landed(small_limit_settings.landing_dir) == []


def test_streamed_body_over_the_limit_is_413(small_limit_settings, kit):
    payload = json.dumps({"reports": [kit.report() for _ in range(20)]}).encode()

    def chunks():  # a generator body is sent chunked, without Content-Length
        for start in range(0, len(payload), 500):
            yield payload[start : start + 500]

    with TestClient(create_app(small_limit_settings)) as client:
        response = client.post("/v1/reports", content=chunks(), headers=kit.bearer("command"))
    assert response.status_code == 413 and "2048" in response.json()["detail"]
    assert kit.landed(small_limit_settings.landing_dir) == []


def test_on_appended_is_called_with_the_landed_batch(intake_settings, kit):
    seen: list[tuple[str, str]] = []
    done = threading.Event()

    def on_appended(kind, batch):
        seen.append((kind, batch.batch_id))
        done.set()

    with TestClient(create_app(intake_settings, on_appended=on_appended)) as client:
        response = client.post("/v1/reports", json=kit.report(), headers=kit.bearer("station:boston-2017:aid-05mi"))
        assert done.wait(10)
    assert seen == [("reports", response.json()["batch_id"])]


def test_failing_on_appended_does_not_fail_the_request(intake_settings, kit, caplog):
    called = threading.Event()

    def on_appended(kind, batch):
        called.set()
        raise ConnectionError("prefect server is down")

    caplog.set_level(logging.ERROR, logger="racecramp.intake.app")
    with TestClient(create_app(intake_settings, on_appended=on_appended)) as client:
        response = client.post("/v1/reports", json=kit.report(), headers=kit.bearer("station:boston-2017:aid-05mi"))
        assert called.wait(10)
    # the app's shutdown joins the notifier thread, so the log record exists by now
    assert response.status_code == 202 and len(kit.landed(intake_settings.landing_dir, "reports")) == 1
    failures = [r for r in caplog.records if "on_appended('reports'" in r.getMessage()]
    assert len(failures) == 1 and "prefect server is down" in failures[0].exc_text


def test_health_reports_landing_and_course(client, tmp_path, kit):
    ok = client.get("/v1/health")
    assert ok.status_code == 200
    assert ok.json()["status"] == "ok" and ok.json()["landing_writable"] is True and ok.json()["course_published"] is True
    with TestClient(create_app(kit.make_settings(tmp_path / "bare"))) as other:
        degraded = other.get("/v1/health")
    assert degraded.status_code == 200
    assert degraded.json()["status"] == "degraded" and degraded.json()["course_published"] is False
    assert "no course published yet" in degraded.json()["problems"][0]


def test_openapi_docs_describe_every_endpoint(client):
    spec = client.get("/openapi.json").json()
    paths = {"/v1/reports", "/v1/participants", "/v1/passings", "/v1/weather", "/v1/survey", "/v1/alerts/{alert_id}/actions", "/v1/health"}
    assert paths <= set(spec["paths"])
    report_schema = spec["components"]["schemas"]["ReportIn"]
    assert "report_id" in report_schema["required"] and "km" in report_schema["properties"]
    assert client.get("/docs").status_code == 200


def test_idempotency_survives_a_restart(intake_settings, kit):
    body = kit.report()
    with TestClient(create_app(intake_settings)) as client:
        first = client.post("/v1/reports", json=body, headers=kit.bearer("station:boston-2017:aid-05mi"))
    with TestClient(create_app(intake_settings)) as client:
        retry = client.post("/v1/reports", json=body, headers=kit.bearer("station:boston-2017:aid-05mi"))
    assert retry.content == first.content and len(kit.landed(intake_settings.landing_dir, "reports")) == 1
    index = IdempotencyIndex(Path(intake_settings.data_dir) / "intake" / "idempotency.sqlite")
    try:
        assert index.count() == 1
    finally:
        index.close()


# ---- a real uvicorn on loopback ------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live_intake(tmp_path, kit):
    """`run_intake` in a subprocess on a free loopback port; yields (base_url, data_dir)."""
    port = _free_port()
    data_dir = tmp_path / "var"
    kit.publish_course(data_dir / "snapshots")
    config = tmp_path / "racecramp.toml"
    lines = [f'data_dir = "{data_dir}"', 'intake_host = "127.0.0.1"', f"intake_port = {port}", "[token_hashes]"]
    lines += [f'"{name}" = "{hash_token(token)}"' for name, token in kit.TOKENS.items()]
    config.write_text("\n".join(lines) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RACECRAMP_")}
    env["RACECRAMP_CONFIG"] = str(config)
    code = "from racecramp.config import load_settings; from racecramp.intake import run_intake; run_intake(load_settings())"
    log_path = tmp_path / "intake.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=tmp_path, stdout=log_file, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"intake exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"intake did not answer /v1/health within 30 s: {log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        yield base, data_dir
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.integration
def test_real_uvicorn_lands_once_under_concurrent_retries(live_intake, kit):
    base, data_dir = live_intake
    body = kit.report()
    answers: list[httpx.Response] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def post() -> None:
        start.wait()
        response = httpx.post(f"{base}/v1/reports", json=body, headers=kit.bearer("station:boston-2017:aid-05mi"), timeout=30)
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in answers] == [202] * 8
    assert len({r.content for r in answers}) == 1
    files = kit.landed(data_dir / "landing", "reports")
    assert len(files) == 1 and answers[0].json()["batch_id"] in files[0].name
    assert [r["report_id"] for r in kit.landed_records(files[0])] == [body["report_id"]]
    denied = httpx.post(f"{base}/v1/reports", json=kit.report("aid-06mi"), headers=kit.bearer("station:boston-2017:aid-05mi"), timeout=30)
    assert denied.status_code == 403
    assert len(kit.landed(data_dir / "landing", "reports")) == 1


def test_unwritable_landing_zone_is_503_not_a_crash(intake_settings, kit):
    Path(intake_settings.landing_dir).parent.mkdir(parents=True, exist_ok=True)
    Path(intake_settings.landing_dir).write_text("not a directory")
    with TestClient(create_app(intake_settings)) as client:
        health = client.get("/v1/health")
        response = client.post("/v1/reports", json=kit.report(), headers=kit.bearer("station:boston-2017:aid-05mi"))
    assert health.status_code == 503 and health.json()["status"] == "failing"
    assert response.status_code == 503 and "landing zone" in response.json()["detail"]


def test_landed_records_reach_the_warehouse_once_or_quarantine_with_a_reason(client, intake_settings, kit):
    """Through the real ingest: retries count once; HTTP-valid but implausible values are quarantined."""
    from racecramp.landing.bulk import import_race
    from racecramp.warehouse.ingest import ingest_pending
    from racecramp.warehouse.writer import open_writer

    import_race(intake_settings, DATA / "races" / "boston-2017.toml", ingest=False)
    good = kit.report("aid-05mi")
    for _ in range(2):
        assert client.post("/v1/reports", json=good, headers=kit.bearer("station:boston-2017:aid-05mi")).status_code == 202
    slow = passing("8124", net_time_s=99999.0)  # beyond 12 h: shape ok, domain not
    assert client.post("/v1/passings", json={"passings": [passing("8123"), slow]}, headers=kit.bearer("feed:timing:boston-2017")).status_code == 202
    humid = dict(WEATHER, dew_point_c=30.0)  # dew point above the air temperature
    assert client.post("/v1/weather", json=humid, headers=kit.bearer("feed:weather:boston-2017")).status_code == 202
    with open_writer(intake_settings.warehouse_path) as con:
        ingest_pending(con, intake_settings.landing_dir)
        reports = con.execute("SELECT CAST(report_id AS VARCHAR), entered_by FROM stg_cramp_reports").fetchall()
        passings = con.execute("SELECT bib FROM stg_passings").fetchall()
        quarantined = con.execute("SELECT source, message FROM quarantine ORDER BY source").fetchall()
    assert reports == [(good["report_id"], "aid-05mi")]
    assert passings == [("8123",)]
    assert [(source, message.split(": ", 1)[1]) for source, message in quarantined] == [
        ("passings:intake:feed:timing:boston-2017", "net_time_s=99999.0: expected between 0 and 43200"),
        ("weather:intake:feed:weather:boston-2017", "dew_point_c=30.0: expected dew point not above the air temperature"),
    ]


def test_a_time_that_falls_before_year_one_in_utc_is_422_not_a_crash(client, intake_settings, kit):
    # found by schemathesis: 0001-01-01T00:00:00+00:01 is 23:59 on 31 Dec of year 0 in UTC
    response = client.post("/v1/reports", json=kit.report(reported_at_utc="0001-01-01T00:00:00+00:01"), headers=kit.bearer("command"))
    assert response.status_code == 422 and "reported_at_utc" in response.text
    assert kit.landed(intake_settings.landing_dir) == []
