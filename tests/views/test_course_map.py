"""The Course page's map: the route in km bins with the runners in each, stations on the track,
the leader and the sweeper."""

from __future__ import annotations

import polars as pl
import pytest

from racecramp.views.course import course_map


def _track() -> pl.DataFrame:
    return pl.DataFrame({"race_id": "r", "seq": [0, 1], "km": [0.0, 3.5], "lat": [52.0, 52.0], "lon": [13.0, 13.05]})


def _status(kms: list[float | None], statuses: list[str]) -> pl.DataFrame:
    return pl.DataFrame({"race_id": "r", "bib": [str(i) for i in range(len(kms))], "status": statuses, "projected_km_now": kms},
                        schema_overrides={"projected_km_now": pl.Float64})


def test_runners_on_course_are_counted_in_the_km_bin_they_are_projected_in():
    status = _status([0.2, 0.9, 1.5, 3.4, None, 2.0], ["on_course"] * 4 + ["not_started", "finished"])
    drawn = course_map(_track(), None, None, status, "r")
    per_bin = dict(drawn.route.unique("bin").select("bin", "runners").iter_rows())
    assert per_bin == {0: 2, 1: 1, 2: 0, 3: 1} and drawn.on_course == 4
    # each bin's line starts where the previous one ends
    assert drawn.route.filter(pl.col("bin") == 1)["km"].to_list() == [1.0, 2.0]


def test_the_leader_and_the_sweeper_are_the_first_and_last_runner_on_course():
    drawn = course_map(_track(), None, None, _status([0.5, 3.0, 1.0], ["on_course"] * 3), "r")
    leader, sweeper = drawn.runners.rows(named=True)
    assert (leader["who"], leader["km"], sweeper["who"], sweeper["km"]) == ("leader", 3.0, "sweeper", 0.5)
    assert leader["lon"] == pytest.approx(13.0 + 0.05 * 3.0 / 3.5)


def test_stations_sit_where_the_course_file_puts_them_else_on_the_track_at_their_km():
    stations = pl.DataFrame({"point_id": ["aid-01k", "med-02k"], "km": [1.0, 2.0], "kind": ["aid_station", "medical_tent"]})
    points = pl.DataFrame({"race_id": "r", "point_id": ["aid-01k", "med-02k"], "lat": [52.001, None], "lon": [13.01, None]})
    drawn = course_map(_track(), stations, points, None, "r")
    assert drawn.stations["lat"].to_list() == [52.001, 52.0]
    assert drawn.stations["lon"].to_list() == [13.01, pytest.approx(13.0 + 0.05 * 2 / 3.5)]


def test_a_race_without_a_track_has_no_map():
    assert course_map(None, None, None, None, "r") is None
    assert course_map(_track(), None, None, None, "other") is None
