"""views.station: a token's principal and station, the report body it posts."""

from __future__ import annotations

from racecramp.config import hash_token
from racecramp.views import station as station_view

from view_frames import NOW, RACE

# --------------------------------------------------------------------------- station entry


def test_a_token_maps_to_its_principal_and_station():
    hashes = {"station:aid-16mi": hash_token("t16"), "command": hash_token("tc")}
    assert station_view.principal_for_token(hashes, "t16") == "station:aid-16mi"
    assert station_view.station_of("station:aid-16mi") == "aid-16mi"
    assert station_view.principal_for_token(hashes, "tc") == "command" and station_view.station_of("command") is None
    assert station_view.principal_for_token(hashes, "wrong") is None and station_view.principal_for_token(hashes, "") is None


def test_report_payload_from_the_finish_tent_and_without_a_bib():
    station = {"point_id": "med-finish", "kind": "medical_tent", "km": 42.195}
    body = station_view.report_payload("r-1", RACE, station, NOW, bib="  ", muscle_group="calf", severity="mild",
                             treatment="rest", disposition="discharged")
    assert body["source"] == "finish_tent" and body["bib"] is None and body["km"] == 42.195
    assert body["reported_at_utc"] == "2017-04-17T16:40:00+00:00"
    aid = station_view.report_payload("r-2", RACE, {"point_id": "aid-16mi", "kind": "aid_station", "km": 25.75}, NOW, bib=" 12 ",
                            muscle_group="calf", severity="mild", treatment="rest", disposition="dnf")
    assert (aid["source"], aid["bib"]) == ("aid_station", "12")


