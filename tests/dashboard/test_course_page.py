"""Course page (AppTest): every station on the km axis with the mart's cases, rates, forecast and beds."""

from __future__ import annotations

import polars as pl

from racecramp.views.shared import Snapshots

from apptest_helpers import metric, open_page
from dashboard_fixtures import MED_FINISH_BEDS


def _stations_table(at) -> pl.DataFrame:
    frames = [pl.from_pandas(d.value) for d in at.dataframe]
    assert len(frames) == 1
    return frames[0]


def test_every_station_is_listed_by_km_with_the_rate_mart_numbers(small):
    snaps = Snapshots(small.snapshot_dir)
    course = snaps.table("course_points").filter(pl.col("kind").is_in(["aid_station", "medical_tent"]))
    mart = snaps.table("cramp_rate_by_station")
    shown = _stations_table(open_page("pages/course.py"))
    assert shown["point_id"].to_list() == course.sort("km", "point_id")["point_id"].to_list()
    assert shown["km"].to_list() == sorted(shown["km"].to_list())
    joined = shown.join(mart, on="point_id", suffix="_mart")
    assert joined.height == mart.height
    for col in ("cases", "runners", "rate_per_1000", "ci_low_per_1000", "ci_high_per_1000"):
        assert joined[col].to_list() == joined[f"{col}_mart"].to_list(), col
    # By hand: Aid 16 mi saw bib 104 and one runner without a bib.
    assert shown.filter(pl.col("point_id") == "aid-16mi")["cases"].to_list() == [2]


def test_forecast_columns_equal_the_station_forecast_mart(small):
    forecast = Snapshots(small.snapshot_dir).table("station_forecast")
    shown = _stations_table(open_page("pages/course.py")).join(forecast, on="point_id", suffix="_mart")
    for col in ("arrivals_next_30m", "arrivals_next_60m", "expected_cramps_next_30m", "expected_cramps_next_60m_hi"):
        assert shown[col].to_list() == shown[f"{col}_mart"].to_list(), col
    assert shown["arrivals_next_60m"].sum() > 0


def test_runners_approaching_and_in_tent_are_placed_at_the_right_station(small):
    shown = _stations_table(open_page("pages/course.py"))
    approaching = dict(shown.filter(pl.col("runners_approaching") > 0).select("point_id", "runners_approaching").iter_rows())
    # Projected positions at 16:40 (even pace): 105 and 106 at 28.1 km, 103 at 37.5, 104 at 32.1,
    # 107 at 25.0, 108 at 22.5, 8001 at 27.1 -> the next station ahead of each.
    assert approaching == {"aid-14mi": 1, "aid-16mi": 1, "aid-17mi": 1, "aid-18mi": 2, "aid-20mi": 1, "aid-24mi": 1}
    in_tent = dict(shown.filter(pl.col("in_tent_now") > 0).select("point_id", "in_tent_now").iter_rows())
    assert in_tent == {"aid-15mi": 1}  # bib 110, reported at 16:20 with no disposition


def test_beds_are_shown_where_configured(small):
    at = open_page("pages/course.py")
    assert metric(at, "Beds in use · Finish medical tents").value == f"0 / {MED_FINISH_BEDS}"
    beds = _stations_table(at).filter(pl.col("beds").is_not_null())
    assert beds.select("point_id", "beds").rows() == [("med-finish", MED_FINISH_BEDS)]
