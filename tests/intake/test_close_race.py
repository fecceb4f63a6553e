"""POST /v1/races/{race_id}/close: only the command token closes a race; the closure is landed
durably before the 202, merged by the one ingest, and announced after the landing."""

from __future__ import annotations

import json
import threading

import pytest
from fastapi.testclient import TestClient

from racecramp import landing
from racecramp.config import hash_token, load_settings
from racecramp.intake import create_app
from racecramp.landing.bulk import ingest_now
from racecramp.report.closure import close_race
from racecramp.warehouse.sql import query
from racecramp.warehouse.writer import open_writer

TOKENS = {"command": "tok-command", "station:boston-2017:aid-20mi": "tok-aid20"}


@pytest.fixture
def intake(boston_2017, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    settings = load_settings(token_hashes={k: hash_token(v) for k, v in TOKENS.items()})
    appended: list[tuple[str, str]] = []
    done = threading.Event()

    def on_appended(kind, batch):
        appended.append((kind, batch.batch_id))
        done.set()

    with TestClient(create_app(settings, on_appended)) as client:
        yield settings, client, appended, done


def _close(client, race_id: str, token: str, body: dict | None = None):
    return client.post(f"/v1/races/{race_id}/close", json=body if body is not None else {"by": "dr-lee"},
                       headers={"Authorization": f"Bearer {token}"})


def test_command_closes_the_race_through_landing_and_ingest(intake):
    settings, client, appended, done = intake
    response = _close(client, "boston-2017", TOKENS["command"])
    assert response.status_code == 202, response.text
    body = response.json()
    batches = landing.list_batches(settings.landing_dir, ["race_closures"])
    assert [b.batch_id for b in batches] == [body["batch_id"]]  # on disk when the 202 came back
    record = json.loads(batches[0].path.read_text())["record"]
    assert record == {"race_id": "boston-2017", "closed_at_utc": body["closed_at_utc"], "closed_by": "dr-lee"}
    assert done.wait(5) and appended == [("race_closures", body["batch_id"])]
    ingest_now(settings)
    with open_writer(settings.warehouse_path) as con:
        assert query(con, "SELECT race_id, closed_by FROM race_closures").rows() == [("boston-2017", "dr-lee")]


def test_a_station_may_not_close_the_race(intake):
    settings, client, _, _ = intake
    response = _close(client, "boston-2017", TOKENS["station:boston-2017:aid-20mi"])
    assert response.status_code == 403 and "may not post race_closures: expected command" in response.text
    assert landing.list_batches(settings.landing_dir, ["race_closures"]) == []


def test_unknown_race_and_a_typed_name_as_closer_are_422_naming_the_field(intake):
    settings, client, _, _ = intake
    unknown = _close(client, "nowhere-2020", TOKENS["command"])
    assert unknown.status_code == 422 and "race_id" in unknown.text and "boston-2017" in unknown.text
    typed = _close(client, "boston-2017", TOKENS["command"], body={"by": "Jane Doe"})
    assert typed.status_code == 422 and "by=<masked: 8 characters>" in typed.text and "Jane" not in typed.text
    assert landing.list_batches(settings.landing_dir, ["race_closures"]) == []


def test_without_a_logged_in_user_the_closer_is_the_command_principal(intake):
    settings, client, _, _ = intake
    assert _close(client, "boston-2017", TOKENS["command"], body={}).status_code == 202
    (batch,) = landing.list_batches(settings.landing_dir, ["race_closures"])
    records, _, _ = landing.read_batch(batch)
    assert [r["closed_by"] for r in records] == ["command"]


def test_closing_a_closed_race_answers_as_the_first_time_and_lands_one_closure(intake):
    settings, client, appended, done = intake
    first = _close(client, "boston-2017", TOKENS["command"])
    again = _close(client, "boston-2017", TOKENS["command"], body={"by": "dr-ng"})
    assert (first.status_code, again.status_code) == (202, 202) and again.json() == first.json()
    assert len(landing.list_batches(settings.landing_dir, ["race_closures"])) == 1
    ingest_now(settings)
    with open_writer(settings.warehouse_path) as con:
        assert query(con, "SELECT race_id, closed_by FROM race_closures").rows() == [("boston-2017", "dr-lee")]


def test_a_race_closed_with_racecramp_close_race_is_not_closed_again_by_the_intake(intake):
    settings, client, _, _ = intake
    closed = close_race(settings, "boston-2017", "dr-lee", ingest=False)
    response = _close(client, "boston-2017", TOKENS["command"])
    assert response.status_code == 202
    assert response.json() == {"race_id": "boston-2017", "closed_at_utc": closed.record["closed_at_utc"], "batch_id": closed.batch.batch_id}
    assert len(landing.list_batches(settings.landing_dir, ["race_closures"])) == 1
