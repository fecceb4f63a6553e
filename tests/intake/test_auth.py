"""Bearer tokens: stored hashed, matched to a principal, and what each principal may post."""

from __future__ import annotations

import pytest

from racecramp.config import hash_token
from racecramp.intake import auth

HASHES = {
    "station:aid-05mi": hash_token("s3cret-aid05"),
    "feed:timing": hash_token("s3cret-timing"),
    "command": hash_token("s3cret-command"),
}


def test_a_token_is_recognised_from_its_hash_alone():
    verifier = auth.TokenVerifier(HASHES)
    assert verifier.principal("s3cret-aid05") == auth.Principal("station:aid-05mi")
    assert verifier.principal("s3cret-command").is_command


@pytest.mark.parametrize("token", [None, "", "s3cret-aid0", "s3cret-aid05 ", HASHES["command"]])
def test_an_unknown_token_is_refused(token):
    # the stored digest itself is not a token either
    with pytest.raises(auth.AuthError):
        auth.TokenVerifier(HASHES).principal(token)


def test_no_configured_tokens_means_nobody_gets_in():
    with pytest.raises(auth.AuthError, match="not recognised"):
        auth.TokenVerifier({}).principal("anything")


def test_station_principal_knows_its_point():
    assert auth.Principal("station:aid-05mi").station == "aid-05mi"
    assert auth.Principal("feed:timing").station is None


@pytest.mark.parametrize(
    ("principal", "endpoint", "allowed"),
    [
        ("station:aid-05mi", "reports", True),
        ("station:aid-05mi", "passings", False),
        ("station:aid-05mi", "alert_actions", False),
        ("feed:timing", "passings", True),
        ("feed:timing", "reports", False),
        ("feed:weather", "weather", True),
        ("feed:weather", "survey", False),
        ("feed:survey", "survey", True),
        ("command", "reports", True),
        ("command", "passings", True),
        ("command", "alert_actions", True),
    ],
)
def test_each_principal_may_use_only_its_endpoints(principal, endpoint, allowed):
    if allowed:
        auth.require(auth.Principal(principal), endpoint)
    else:
        with pytest.raises(auth.ForbiddenError, match=principal):
            auth.require(auth.Principal(principal), endpoint)


def test_a_station_may_report_only_for_itself():
    station = auth.Principal("station:aid-05mi")
    auth.require_station(station, "aid-05mi", "point_id")
    with pytest.raises(auth.ForbiddenError) as err:
        auth.require_station(station, "aid-06mi", "reports[2].point_id")
    assert "reports[2].point_id='aid-06mi'" in str(err.value) and "'aid-05mi'" in str(err.value)
    auth.require_station(auth.Principal("command"), "aid-06mi", "point_id")
