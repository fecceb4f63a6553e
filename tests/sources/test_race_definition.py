"""A race file, course CSV and track written from answers read back as the race they describe."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest
from typer.testing import CliRunner

from racecramp.cli import app
from racecramp.sources import race_definition as rd
from racecramp.sources.course_geometry import track_from_positions
from racecramp.sources.race import read_race, read_race_track

from new_race_kit import RACE_ID, race_new_args, spreewald_gpx


def test_waves_take_bib_ranges_open_ends_prefixes_or_none():
    assert rd.parse_wave("1,09:00") == rd.Wave(1, "09:00")
    assert rd.parse_wave("2,9:20,5000-") == rd.Wave(2, "09:20", 5000, None)
    assert rd.parse_wave("0,08:45,F1-99") == rd.Wave(0, "08:45", 1, 99, "F")
    with pytest.raises(rd.RaceDefinitionError, match=r"--wave '1,25:00': gun time 25:00 is not a time of day"):
        rd.parse_wave("1,25:00")
    with pytest.raises(rd.RaceDefinitionError, match="expected FROM <= TO"):
        rd.parse_wave("1,09:00,9-1")


def test_stations_are_given_by_km_by_lat_lon_or_at_the_finish():
    assert rd.parse_station("aid;5;Aid 5 km") == rd.Station(rd.PointKind.AID_STATION, "Aid 5 km", km=5.0)
    assert rd.parse_station("tent;52.1,13.2;North;8").lat == 52.1
    assert rd.parse_station("medical;finish;Finish tent;40").at_finish
    with pytest.raises(rd.RaceDefinitionError, match=r"kind 'bar', expected one of aid"):
        rd.parse_station("bar;5;Beer")


def test_mats_are_km_half_or_miles_in_course_order():
    assert rd.parse_mats("10,half,5,13.1mi") == pytest.approx((5.0, 10.0, 21.0824, 21.0975), abs=1e-4)
    assert [rd.mat_point_id(k) for k in (5.0, 7.5, 21.0975)] == ["mat-05k", "mat-07-5k", "mat-half"]


def test_a_station_by_lat_lon_is_snapped_and_every_point_gets_a_position():
    track = track_from_positions([52.0, 52.0], [13.0, 13.63])  # about 43 km east
    answers, scaled = rd.race_answers("east-2026", "East Marathon", date(2026, 5, 1), "Europe/Berlin", None, ["1,09:00"],
                                      ["medical;52.0001,13.3;Tent"], "5,half", track, "east.gpx")
    points = rd.course_points(answers, scaled)
    assert answers.distance_km == 42.195  # the standard distance the track is near
    tent = points.filter(pl.col("kind") == "medical_tent").row(0, named=True)
    assert tent["km"] == pytest.approx(0.3 / 0.63 * 42.195, abs=0.01) and "snapped to the track" in tent["position_source"]
    assert points["point_id"].to_list() == ["mat-05k", tent["point_id"], "mat-half", "finish"]
    assert points["lat"].is_not_null().all()


def test_race_new_writes_files_that_read_back_as_the_race(tmp_path):
    gpx = spreewald_gpx(tmp_path / "loop.gpx")
    result = CliRunner().invoke(app, race_new_args(gpx, tmp_path / "race"))
    assert result.exit_code == 0, result.output
    races, course = read_race(tmp_path / "race" / f"{RACE_ID}.toml")
    race = races.row(0, named=True)
    assert race["distance_km"] == 42.195 and race["timezone"] == "Europe/Berlin"
    # 09:00 and 09:15 in Berlin on 26 April (CEST, UTC+2)
    assert [w["start_utc"] for w in race["start_waves"]] == [datetime(2026, 4, 26, 7, 0, tzinfo=UTC), datetime(2026, 4, 26, 7, 15, tzinfo=UTC)]
    assert course.filter(pl.col("kind") == "aid_station").height == 8 and "med-finish" in course["point_id"].to_list()
    track = read_race_track(tmp_path / "race" / f"{RACE_ID}.toml")
    assert track["km"][-1] == pytest.approx(42.195) and set(track["race_id"]) == {RACE_ID}


def test_race_new_refuses_to_overwrite_or_to_write_into_the_package(tmp_path):
    import racecramp

    gpx = spreewald_gpx(tmp_path / "loop.gpx")
    assert CliRunner().invoke(app, race_new_args(gpx, tmp_path / "race")).exit_code == 0
    again = CliRunner().invoke(app, race_new_args(gpx, tmp_path / "race"))
    assert again.exit_code == 1 and "already there" in again.output and "Traceback" not in again.output
    package = CliRunner().invoke(app, race_new_args(gpx, racecramp.__file__.rsplit("/", 1)[0] + "/data/mine"))
    assert package.exit_code == 1 and "inside the installed racecramp package" in package.output
