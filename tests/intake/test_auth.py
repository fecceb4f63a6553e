"""Bearer tokens: stored hashed, matched to a principal, and what each principal may post."""

from __future__ import annotations

import pytest

from racecramp.config import hash_token
from racecramp.intake import auth

HASHES = {
    "station:boston-2017:aid-05mi": hash_token("s3cret-aid05"),
    "feed:timing:boston-2017": hash_token("s3cret-timing"),
    "command": hash_token("s3cret-command"),
}


def test_a_token_is_recognised_from_its_hash_alone():
    verifier = auth.TokenVerifier(HASHES.items())
    assert verifier.principal("s3cret-aid05") == auth.Principal("station:boston-2017:aid-05mi")
    assert verifier.principal("s3cret-command").is_command


@pytest.mark.parametrize("token", [None, "", "s3cret-aid0", "s3cret-aid05 ", HASHES["command"]])
def test_an_unknown_token_is_refused(token):
    # the stored digest itself is not a token either
    with pytest.raises(auth.AuthError):
        auth.TokenVerifier(HASHES.items()).principal(token)


def test_no_configured_tokens_means_nobody_gets_in():
    with pytest.raises(auth.AuthError, match="not recognised"):
        auth.TokenVerifier({}).principal("anything")


def test_station_principal_knows_its_point():
    assert auth.Principal("station:boston-2017:aid-05mi").station == "aid-05mi"
    assert auth.Principal("feed:timing:boston-2017").station is None


@pytest.mark.parametrize(
    ("principal", "endpoint", "allowed"),
    [
        ("station:boston-2017:aid-05mi", "reports", True),
        ("station:boston-2017:aid-05mi", "passings", False),
        ("station:boston-2017:aid-05mi", "alert_actions", False),
        ("feed:timing:boston-2017", "passings", True),
        ("feed:timing:boston-2017", "reports", False),
        ("feed:weather:boston-2017", "weather", True),
        ("feed:weather:boston-2017", "survey", False),
        ("feed:survey:boston-2017", "survey", True),
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
    station = auth.Principal("station:boston-2017:aid-05mi")
    auth.require_station(station, "boston-2017", "aid-05mi", "race_id", "point_id")
    with pytest.raises(auth.ForbiddenError) as err:
        auth.require_station(station, "boston-2017", "aid-06mi", "reports[2].race_id", "reports[2].point_id")
    assert "reports[2].point_id='aid-06mi'" in str(err.value) and "'aid-05mi'" in str(err.value)
    auth.require_station(auth.Principal("command"), "boston-2018", "aid-06mi", "race_id", "point_id")


def test_a_station_or_feed_token_is_refused_for_another_race_naming_both():
    station = auth.Principal("station:boston-2017:aid-05mi")
    with pytest.raises(auth.ForbiddenError) as err:
        auth.require_station(station, "boston-2018", "aid-05mi", "reports[0].race_id", "reports[0].point_id")
    assert "reports[0].race_id='boston-2018'" in str(err.value) and "race 'boston-2017'" in str(err.value)
    with pytest.raises(auth.ForbiddenError, match="passings\\[3\\].race_id='boston-2018'.*race 'boston-2017'"):
        auth.require_race(auth.Principal("feed:timing:boston-2017"), "boston-2018", "passings[3].race_id")
    auth.require_race(auth.Principal("command"), "boston-2018", "race_id")


def test_a_principal_name_says_its_role_race_and_station():
    station = auth.Principal("station:boston-2017:med-finish")
    assert (station.role, station.race_id, station.station) == ("station", "boston-2017", "med-finish")
    feed = auth.Principal("feed:weather:boston-2018")
    assert (feed.role, feed.race_id, feed.station) == ("feed:weather", "boston-2018", None)
    assert auth.Principal("command").race_id is None
    for unbound in ("station:aid-05mi", "feed:timing", "feed:radio:boston-2017", "station:Boston:aid-05mi"):
        with pytest.raises(ValueError, match="station:<race_id>:<point_id>"):
            auth.Principal(unbound)


def test_a_revoked_token_is_refused_saying_so():
    verifier = auth.TokenVerifier(HASHES.items(), revoked=[HASHES["command"]])
    with pytest.raises(auth.AuthError, match="revoked"):
        verifier.principal("s3cret-command")
    assert verifier.principal("s3cret-aid05").station == "aid-05mi"
