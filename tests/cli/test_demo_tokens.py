"""`racecramp demo`'s tokens: new at every start, registered for the intake, plaintext in memory only."""

from __future__ import annotations

import os

import pytest

from racecramp.cli.demo import LIVE_RACE, demo_tokens
from racecramp.config import COMMAND_TOKEN_ENV, hash_token
from racecramp.intake.auth import AuthError
from racecramp.intake.tokens import live_tokens, read_register
from racecramp.simulate.replay import race_principals
from racecramp.sources.race import read_race

from paths import DATA


def test_each_demo_start_makes_new_tokens_for_the_live_race_and_revokes_the_last(settings, monkeypatch):
    monkeypatch.delenv(COMMAND_TOKEN_ENV, raising=False)
    said = []
    first = demo_tokens(settings, say=said.append)
    assert set(first) == set(race_principals(*read_race(DATA / "races" / f"{LIVE_RACE}.toml")))
    register = read_register(settings.token_register_path)
    assert register.hashes == {p: hash_token(t) for p, t in first.items()}
    assert os.environ[COMMAND_TOKEN_ENV] == first["command"]  # for the dashboard child
    assert first["station:boston-2017:aid-20mi"] in said[0]  # to try the station app with
    monkeypatch.delenv(COMMAND_TOKEN_ENV)
    second = demo_tokens(settings, say=said.append)
    verifier = live_tokens(settings)
    assert verifier.principal(second["station:boston-2017:aid-20mi"]).station == "aid-20mi"
    with pytest.raises(AuthError, match="revoked"):
        verifier.principal(first["station:boston-2017:aid-20mi"])
    files = [p for p in settings.data_dir.rglob("*") if p.is_file()]
    assert not any(token.encode() in p.read_bytes() for p in files for token in (*first.values(), *second.values()))


def test_a_command_token_given_to_the_demo_that_the_intake_knows_is_kept(settings, monkeypatch):
    monkeypatch.delenv(COMMAND_TOKEN_ENV, raising=False)
    first = demo_tokens(settings, say=lambda *_: None)
    monkeypatch.setenv(COMMAND_TOKEN_ENV, first["command"])
    again = demo_tokens(settings, say=lambda *_: None)
    assert again["command"] == first["command"] and live_tokens(settings).principal(first["command"]).is_command
