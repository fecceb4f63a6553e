"""Start list and passings from a results file and a race definition, without a warehouse."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from racecramp.sources.race import WAVE_DTYPE, read_race
from racecramp.sources.results import read_results
from racecramp.sources.roster import assign_waves, roster_from_results, wave_table

from paths import DATA

START_W1 = datetime(2017, 4, 17, 14, 0, tzinfo=UTC)
START_W2 = datetime(2017, 4, 17, 14, 25, tzinfo=UTC)
START_ELITE_F = datetime(2017, 4, 17, 13, 32, tzinfo=UTC)


def _races() -> pl.DataFrame:
    waves = [
        {"wave": 0, "start_utc": START_ELITE_F, "bib_from": None, "bib_to": None, "bib_prefix": "F"},
        {"wave": 1, "start_utc": START_W1, "bib_from": "101", "bib_to": "7999", "bib_prefix": None},
        {"wave": 2, "start_utc": START_W2, "bib_from": "8000", "bib_to": None, "bib_prefix": None},
    ]
    return pl.DataFrame(
        {"race_id": ["r"], "distance_km": [42.195], "start_waves": pl.Series([waves], dtype=WAVE_DTYPE)}
    )


def test_wave_comes_from_bib_prefix_and_range_and_a_given_wave_keeps_its_start():
    runners = pl.DataFrame(
        {"race_id": ["r"] * 5, "bib": ["F7", "150", "9000", "7999", "150"], "age": [30, 45, 17, None, 30], "wave": [None, None, None, None, 2]},
        schema_overrides={"wave": pl.Int32},
    )
    out = assign_waves(runners, wave_table(_races()))
    assert out["wave"].to_list() == [0, 1, 2, 1, 2]
    assert out["wave_start_utc"].to_list() == [START_ELITE_F, START_W1, START_W2, START_W1, START_W2]
    assert out["age_band"].to_list()[:2] == ["30-39", "40-49"]  # ten-year bands (domain.age_band)
    assert out["bib"].to_list() == runners["bib"].to_list()  # order kept


def test_boston_2017_roster_matches_the_import_counts_and_clock():
    races, course = read_race(DATA / "races" / "boston-2017.toml")
    rows = read_results(DATA / "boston-2017" / "results.csv", "boston", "boston-2017").rows
    roster = roster_from_results(rows, races, course)
    # the same counts the warehouse import gives (tests/test_imports.py)
    assert roster.participants.height == 26410
    assert roster.passings.height == 263858
    assert roster.skipped.height == 0
    assert roster.passings["passed_at_utc"].null_count() == 0
    # a wave-1 runner (bib 101-7999 starts 10:00 EDT = 14:00 UTC): wall clock = start + net
    one = roster.passings.join(roster.participants.filter(pl.col("wave") == 1).select("bib").head(1), on="bib").sort("net_time_s")
    first = one.row(0, named=True)
    assert (first["passed_at_utc"] - START_W1).total_seconds() == round(first["net_time_s"], 6)


def test_a_row_with_a_split_off_the_course_is_skipped_with_its_reason():
    races, course = read_race(DATA / "races" / "boston-2017.toml")
    rows = read_results(DATA / "boston-2017" / "results.csv", "boston", "boston-2017").rows.head(3)
    course = course.filter(pl.col("point_id") != "mat-10k")
    roster = roster_from_results(rows, races, course)
    assert roster.participants.height == 0
    assert set(roster.skipped["column"].to_list()) == {"mat-10k"}
    assert "not on the course" in roster.skipped["message"][0]
