"""Abuse limits on the intake: 429 with Retry-After per client address, per principal and, hardest,
for failed authentications; a real race's feeds and the demo replay are never throttled.

The limits run on an injected clock (create_app(..., clock=)), so no test depends on timing."""

from __future__ import annotations

import httpx
import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient

from racecramp.config import load_settings
from racecramp.intake import create_app
from racecramp.intake.middleware import AbuseLimits
from racecramp.simulate import replay


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        self.now_s += seconds


def _passing(kit, bib: int) -> dict:
    return {"passings": [{"race_id": kit.RACE_ID, "bib": str(bib), "point_id": "mat-10k", "net_time_s": 3000.0 + bib}]}


def test_a_burst_of_wrong_tokens_meets_429_with_retry_after_before_it_ends(intake_settings, kit):
    clock = FakeClock()
    with TestClient(create_app(intake_settings, clock=clock)) as client:
        answers = [client.post("/v1/reports", json=kit.report(), headers={"Authorization": f"Bearer guess-{i}"})
                   for i in range(40)]
        statuses = [a.status_code for a in answers]
        # the default: 10 failures at once, then one more every 6 s (10 per minute)
        assert statuses[:10] == [401] * 10 and statuses[10:] == [429] * 30
        assert answers[-1].headers["Retry-After"] == "6" and "intake_auth_failures_per_minute" in answers[-1].json()["detail"]
        assert client.post("/v1/reports", json=kit.report()).status_code == 429, "no token at all counts as a failure too"
        # a good token from the same address (tablets behind one venue NAT) still goes through
        assert client.post("/v1/reports", json=kit.report(), headers=kit.bearer("station:boston-2017:aid-05mi")).status_code == 202
        clock.sleep(6)
        assert client.post("/v1/reports", json=kit.report(), headers={"Authorization": "Bearer guess-41"}).status_code == 401
    assert len(kit.landed(intake_settings.landing_dir)) == 1


def test_a_timing_feed_posting_every_second_for_ten_minutes_is_never_throttled(intake_settings, kit):
    clock = FakeClock()
    with TestClient(create_app(intake_settings, clock=clock)) as client:
        statuses = []
        for second in range(600):
            statuses.append(client.post("/v1/passings", json=_passing(kit, second), headers=kit.bearer("feed:timing:boston-2017")).status_code)
            clock.sleep(1.0)
    assert statuses == [202] * 600


def test_a_runaway_principal_meets_429_and_the_other_principals_go_on(tmp_path, kit):
    settings = kit.make_settings(tmp_path / "var", intake_principal_requests_per_s=0.5, intake_principal_burst=3)
    kit.publish_course(settings.snapshot_dir)
    with TestClient(create_app(settings, clock=FakeClock())) as client:
        feed = [client.post("/v1/passings", json=_passing(kit, i), headers=kit.bearer("feed:timing:boston-2017")) for i in range(4)]
        assert [a.status_code for a in feed] == [202, 202, 202, 429]
        assert feed[-1].headers["Retry-After"] == "2" and "feed:timing:boston-2017" in feed[-1].json()["detail"]
        assert client.post("/v1/reports", json=kit.report(), headers=kit.bearer("station:boston-2017:aid-05mi")).status_code == 202


def test_a_client_over_its_rate_is_refused_before_any_work(tmp_path, kit):
    settings = kit.make_settings(tmp_path / "var", intake_client_requests_per_s=1.0, intake_client_burst=2)
    with TestClient(create_app(settings, clock=FakeClock())) as client:
        answers = [client.get("/v1/health") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].headers["Retry-After"] == "1" and "intake_client_requests_per_s" in answers[2].json()["detail"]


@pytest.fixture(scope="module")
def boston_events():
    return replay.build_events(replay.load_shipped_source("boston-2017"), replay.DEFAULT_SEED)


@pytest.mark.parametrize("speed", [60.0, 600.0])  # the demo's speed, and the live replay test's
def test_a_replay_of_boston_is_never_throttled_by_the_default_limits(boston_events, speed, tmp_path):
    clock = FakeClock()
    limits = AbuseLimits(load_settings(data_dir=tmp_path), clock)
    principals = {f"tok-{p}": p for p in replay.needed_principals(boston_events)}
    refused = []

    def intake(request: httpx.Request) -> httpx.Response:
        try:
            assert limits.client.take("127.0.0.1") == 0.0, "client rate"
            limits.authenticated(principals[request.headers["Authorization"].removeprefix("Bearer ")])
        except (AssertionError, HTTPException) as exc:
            refused.append(str(exc))
            return httpx.Response(429, headers={"Retry-After": "1"})
        return httpx.Response(202)

    tokens = {p: t for t, p in principals.items()}
    sender = replay.IntakeSender("http://intake.test", tokens, client=httpx.Client(transport=httpx.MockTransport(intake)))
    replay.run(boston_events, sender.send, speed, clock=clock, sleep=clock.sleep)
    assert refused == [] and sender.throttled == 0
    assert sum(sender.sent.values()) == len(boston_events)
