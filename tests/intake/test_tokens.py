"""Tokens per race and station: `racecramp tokens` makes them for any known race, hands the
plaintext out once (never under data_dir), registers their digests in the token register the
running intake re-reads, and `--revoke` stops one at once."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from racecramp.cli import app
from racecramp.config import hash_token, load_settings
from racecramp.intake import create_app
from racecramp.intake.tokens import TokenError, issue_tokens, new_token, read_register, read_token_file, revoke_token
from racecramp.landing.bulk import import_race
from racecramp.simulate.replay import race_principals
from racecramp.sources.race import read_race

from paths import DATA

STATION_20 = "station:boston-2017:aid-20mi"


def _tokens(*args: str):
    return CliRunner().invoke(app, ["tokens", *args])


def _report(kit, token: str, race_id: str = "boston-2017"):
    return {"json": kit.report("aid-20mi", race_id=race_id), "headers": {"Authorization": f"Bearer {token}"}}


def test_a_token_carries_160_random_bits_and_no_two_are_alike():
    tokens = [new_token() for _ in range(2000)]
    assert len(set(tokens)) == len(tokens)
    for token in tokens:
        assert len(base64.b32decode(token.replace("-", "").upper())) * 8 == 160  # at least 128 asked for


def test_tokens_are_made_for_a_published_race_by_its_id_and_written_only_to_the_named_file(boston_2017, tmp_path):
    out = tmp_path / "keys" / "boston-2017.toml"
    result = _tokens("--race", "boston-2017", "--out", str(out))
    assert result.exit_code == 0, result.output
    tokens = read_token_file(out)
    assert list(tokens) == sorted(race_principals(*read_race(DATA / "races" / "boston-2017.toml")))
    assert out.stat().st_mode & 0o777 == 0o600
    assert not any(token in result.output for token in tokens.values()), "written to the file, so not printed"
    register = read_register(boston_2017.token_register_path)
    assert register.hashes == {principal: hash_token(token) for principal, token in tokens.items()}


def test_each_race_gets_its_own_new_tokens_and_the_command_token_stays_race_wide(boston_2017, tmp_path):
    import_race(boston_2017, DATA / "races" / "boston-2018.toml")
    assert _tokens("--race", "boston-2017", "--out", str(tmp_path / "2017.toml")).exit_code == 0
    assert _tokens("--race", "boston-2018", "--out", str(tmp_path / "2018.toml")).exit_code == 0
    first, second = read_token_file(tmp_path / "2017.toml"), read_token_file(tmp_path / "2018.toml")
    assert "command" in first and "command" not in second  # one command token for every race
    assert "station:boston-2018:aid-20mi" in second and STATION_20 in first
    assert set(first.values()).isdisjoint(second.values())


def test_plaintext_tokens_are_never_written_under_data_dir(boston_2017, tmp_path):
    for option, name in (("--out", "tokens.toml"), ("--cards", "cards.pdf")):
        inside = boston_2017.data_dir / "private" / name
        result = _tokens("--race", "boston-2017", option, str(inside))
        assert result.exit_code == 1 and "under data_dir" in result.output and not inside.exists()
    assert read_register(boston_2017.token_register_path).hashes == {}, "nothing issued for a refused request"
    printed = _tokens("--race", "boston-2017", "--cards", str(tmp_path / "cards.pdf"))
    assert printed.exit_code == 0, printed.output
    tokens = dict(line.split(" = ") for line in printed.output.splitlines() if line.startswith(("station:", "feed:", "command")))
    assert STATION_20 in tokens and len(tokens) == len(race_principals(*read_race(DATA / "races" / "boston-2017.toml")))
    for path in boston_2017.data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(token.encode() in content for token in tokens.values()), path


def test_a_race_that_is_neither_published_nor_a_file_is_refused_naming_the_published_ones(boston_2017, tmp_path):
    result = _tokens("--race", "nyc-2017", "--out", str(tmp_path / "t.toml"))
    assert result.exit_code == 1 and "nyc-2017" in result.output and "published: boston-2017" in result.output
    assert not (tmp_path / "t.toml").exists()


def test_running_again_makes_tokens_only_for_principals_without_one_and_replace_revokes_the_old(boston_2017, tmp_path, kit):
    assert _tokens("--race", "boston-2017", "--out", str(tmp_path / "first.toml")).exit_code == 0
    again = _tokens("--race", "boston-2017", "--out", str(tmp_path / "again.toml"))
    assert again.exit_code == 1 and "has a live token already" in again.output
    old = read_token_file(tmp_path / "first.toml")[STATION_20]
    assert _tokens("--race", "boston-2017", "--replace", "--out", str(tmp_path / "new.toml")).exit_code == 0
    new = read_token_file(tmp_path / "new.toml")[STATION_20]
    with TestClient(create_app(boston_2017)) as client:
        assert client.post("/v1/reports", **_report(kit, old)).status_code == 401
        assert client.post("/v1/reports", **_report(kit, new)).status_code == 202


def test_a_revoked_token_is_refused_at_once_without_restarting_the_intake(boston_2017, tmp_path, kit):
    assert _tokens("--race", "boston-2017", "--out", str(tmp_path / "t.toml")).exit_code == 0
    tokens = read_token_file(tmp_path / "t.toml")
    with TestClient(create_app(boston_2017)) as client:
        assert client.post("/v1/reports", **_report(kit, tokens[STATION_20])).status_code == 202
        revoked = _tokens("--revoke", STATION_20)
        assert revoked.exit_code == 0 and f"revoked {STATION_20}" in revoked.output
        refused = client.post("/v1/reports", **_report(kit, tokens[STATION_20]))
        assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
        other = {"json": kit.report("aid-05mi"), "headers": {"Authorization": f"Bearer {tokens['station:boston-2017:aid-05mi']}"}}
        assert client.post("/v1/reports", **other).status_code == 202
        # the lost tablet's replacement: running tokens again makes a token for that station only
        assert _tokens("--race", "boston-2017", "--out", str(tmp_path / "replacement.toml")).exit_code == 0
        replacement = read_token_file(tmp_path / "replacement.toml")
        assert list(replacement) == [STATION_20]
        assert client.post("/v1/reports", **_report(kit, replacement[STATION_20])).status_code == 202


def test_a_token_configured_in_settings_can_be_revoked_too(boston_2017, kit):
    settings = load_settings(data_dir=boston_2017.data_dir, token_hashes={STATION_20: hash_token("tok-aid20")})
    with TestClient(create_app(settings)) as client:
        assert client.post("/v1/reports", **_report(kit, "tok-aid20")).status_code == 202
        (revocation,) = revoke_token(settings, STATION_20)
        assert revocation.sha256 == hash_token("tok-aid20")
        assert client.post("/v1/reports", **_report(kit, "tok-aid20")).status_code == 401


def test_revoking_a_principal_without_a_token_says_so(boston_2017):
    result = _tokens("--revoke", "station:boston-2017:aid-99mi")
    assert result.exit_code == 1 and "has no live token" in result.output


def test_a_malformed_register_is_refused_naming_the_entry_and_the_intake_keeps_the_tokens_it_had(boston_2017, kit):
    issued = issue_tokens(boston_2017, [STATION_20])
    with TestClient(create_app(boston_2017)) as client:
        assert client.post("/v1/reports", **_report(kit, issued[STATION_20])).status_code == 202
        path = boston_2017.token_register_path
        path.write_text(path.read_text() + '"station:aid-05mi" = "not-a-digest"\n')
        with pytest.raises(TokenError, match="'station:aid-05mi'.*station:<race_id>:<point_id>"):
            read_register(path)
        assert client.post("/v1/reports", **_report(kit, issued[STATION_20])).status_code == 202
        health = client.get("/v1/health").json()
        assert health["status"] == "degraded" and any("token register" in p for p in health["problems"])
