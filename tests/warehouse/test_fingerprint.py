"""Fingerprints: the same rows in any order match; floats to nine significant digits, a fitted table's to six."""

from __future__ import annotations

import duckdb

from racecramp.warehouse.fingerprint import table_fingerprint


def _table(con, name: str, values: list[float]) -> None:
    con.sql(f"CREATE OR REPLACE TABLE {name} (term VARCHAR, rate_ratio DOUBLE)")
    con.executemany(f"INSERT INTO {name} VALUES (?, ?)", [(f"t{i}", v) for i, v in enumerate(values)])


def test_a_fit_equal_to_about_1e_12_matches_and_one_off_in_the_fourth_digit_does_not():
    con = duckdb.connect()
    _table(con, "survey_rate_ratios", [1.6812345678901, 50.0])
    original = table_fingerprint(con, "survey_rate_ratios")
    _table(con, "survey_rate_ratios", [1.6812345678907, 50.0])
    assert table_fingerprint(con, "survey_rate_ratios") == original
    _table(con, "survey_rate_ratios", [1.682, 50.0])
    assert table_fingerprint(con, "survey_rate_ratios") != original


def test_other_tables_match_to_nine_digits():
    con = duckdb.connect()
    _table(con, "station_load_30m", [1.6812345678901])
    original = table_fingerprint(con, "station_load_30m")
    _table(con, "station_load_30m", [1.6812345678907])
    assert table_fingerprint(con, "station_load_30m") == original
    _table(con, "station_load_30m", [1.6812346])
    assert table_fingerprint(con, "station_load_30m") != original
