"""The scale generator: simulated editions that look like real ones and say they are simulated."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from racecramp.season.generate import SERIES, WEATHER_OFFSET_C_RANGE, generate_edition, generate_season, load_base
from racecramp.season.run import season_single_process


@pytest.fixture(scope="module")
def base_2017():
    return load_base("boston-2017")


def test_every_generated_row_is_labelled_simulated(base_2017):
    frames = generate_edition(base_2017, "synthetic-0001", 2000, np.random.default_rng(1))
    for table in ("participants", "passings", "cramp_reports", "weather_heat"):
        assert frames[table]["simulated"].all(), table
    assert frames["participants"]["declared_is_synthetic"].all()
    assert frames["participants"]["bib"].n_unique() == 2000


def test_runners_keep_increasing_splits_and_their_finish_is_the_official_time(base_2017):
    frames = generate_edition(base_2017, "synthetic-0001", 2000, np.random.default_rng(2))
    passings = frames["passings"].sort("bib", "km")
    assert passings.select(pl.col("net_time_s").diff().over("bib").min()).item() > 0
    finish = passings.filter(pl.col("point_id") == "finish").join(frames["participants"], on="bib")
    assert (finish["net_time_s"] == finish["official_time_s"]).all()


def test_weather_is_the_base_weather_shifted_by_one_offset(base_2017):
    frames = generate_edition(base_2017, "synthetic-0001", 500, np.random.default_rng(3))
    shift = (frames["weather_heat"]["temp_c"] - base_2017.weather["temp_c"]).to_numpy()
    assert np.allclose(shift, shift[0]) and WEATHER_OFFSET_C_RANGE[0] <= shift[0] <= WEATHER_OFFSET_C_RANGE[1]
    dew_shift = (frames["weather_heat"]["dew_point_c"] - base_2017.weather["dew_point_c"]).to_numpy()
    assert np.allclose(dew_shift, shift[0])


def test_reports_name_a_generated_runner_and_a_station_of_the_course(base_2017):
    frames = generate_edition(base_2017, "synthetic-0001", 20_000, np.random.default_rng(4))
    reports = frames["cramp_reports"]
    assert reports.height > 0
    assert reports["report_id"].n_unique() == reports.height
    assert reports.join(frames["participants"], on="bib", how="anti").height == 0
    stations = frames["course_points"].filter(pl.col("kind").is_in(["aid_station", "medical_tent"]))["point_id"]
    assert reports["point_id"].is_in(stations.implode()).all()
    assert reports["reported_at_utc"].null_count() == 0


def test_the_same_seed_gives_the_same_season(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert generate_season(a, 2, 300, seed=7) == [f"{SERIES}-0001", f"{SERIES}-0002"]
    generate_season(b, 2, 300, seed=7)
    first, second = season_single_process(a), season_single_process(b)
    for name in first:
        assert first[name].equals(second[name]), name
