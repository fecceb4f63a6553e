"""Per-segment exports without a finish column, sex inside a category, age from a birth year,
gun beside chip times: read as the mapping documents (sources/mapping.py), hand-checked rows."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from racecramp.sources.mapping import MappingError, mapping_from_dict
from racecramp.sources.results import read_results, result_row_problems

from new_race_kit import HAND_NET_S, spreewald_results

SEGMENTS = [("0-5km", 5.0), ("5-10km", 10.0), ("10-HM", 21.0975), ("HM-30km", 30.0), ("30-35km", 35.0), ("35-40km", 40.0)]
SPEC = {
    "preamble_lines": 2, "delimiter": ";", "times": "per_segment", "missing": [""], "drop": ["Platz", "Name", "Verein"],
    "sex_pattern": r"^[A-Za-z]*-([MW])\d*$",
    "columns": {"bib": "Startnr", "sex": "Kategorie", "birth_year": "Jahrgang"},
    "sex_values": {"M": "M", "W": "F"},
    "dnf": {"column": "Status", "values": ["DNF", "DSQ"]},
    "finish": {"point_id": "finish", "km": 42.195, "column": "40km-Ziel"},
    "splits": [{"column": c, "point_id": f"p{i}", "km": km} for i, (c, km) in enumerate(SEGMENTS)],
}


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> pl.DataFrame:
    path = spreewald_results(tmp_path_factory.mktemp("seg") / "export.csv", runners=5)
    return read_results(path, mapping_from_dict(SPEC, "spreewald"), "spreewald-2026", race_date=date(2026, 4, 26)).rows


def _row(rows: pl.DataFrame, bib: str) -> dict:
    return rows.filter(pl.col("bib") == bib).row(0, named=True)


def test_the_net_time_is_the_sum_of_every_segment(rows):
    runner = _row(rows, "7")
    # 25:00 + 25:30 + 57:00 + 46:30 + 26:00 + 27:00 + 12:00 = 3:39:00 (new_race_kit.HAND_ROWS)
    assert runner["official_time_s"] == HAND_NET_S["7"] == 13140.0
    assert [s["net_time_s"] for s in runner["splits"]] == [1500.0, 3030.0, 6450.0, 9240.0, 10800.0, 12420.0, 13140.0]
    assert runner["finished"] and runner["sex"] == "F" and runner["age"] == 42  # born 1984, race in 2026


def test_a_dnf_with_a_gap_keeps_its_splits_up_to_the_gap_only(rows):
    runner = _row(rows, "8")
    # 28:00 and 29:00, then the 10-HM segment is missing: the 50:00 after it cannot be placed in race time
    assert not runner["finished"] and runner["official_time_s"] is None
    assert [(s["point_id"], s["net_time_s"]) for s in runner["splits"]] == [("p0", 1680.0), ("p1", 3420.0)]
    assert runner["parse_errors"] == []


def test_a_disqualified_runner_is_not_a_finisher(rows):
    assert _row(rows, "9")["finished"] is False and _row(rows, "9")["official_time_s"] is None


def test_a_finisher_with_a_gap_has_no_net_time_and_is_quarantined(tmp_path):
    path = tmp_path / "gap.csv"
    path.write_text("x\ny\nPlatz;Startnr;Name;Verein;Kategorie;Jahrgang;0-5km;5-10km;10-HM;HM-30km;30-35km;35-40km;40km-Ziel;Status\n"
                    ";21;A;;Mara-M40;1980;0:25:00;;0:57:00;0:46:30;0:26:00;0:27:00;0:12:00;FINISHER\n", encoding="utf-8")
    rows = read_results(path, mapping_from_dict(SPEC, "spreewald"), "r", race_date=date(2026, 4, 26)).rows
    problems = result_row_problems(rows, 42.195)
    assert problems["check"].to_list() == ["finisher_has_time"]


def test_sex_outside_the_pattern_is_a_parse_error_naming_the_pattern(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("x\ny\nPlatz;Startnr;Name;Verein;Kategorie;Jahrgang;0-5km;5-10km;10-HM;HM-30km;30-35km;35-40km;40km-Ziel;Status\n"
                    ";22;A;;Staffel;1980;0:25:00;0:25:00;0:57:00;0:46:30;0:26:00;0:27:00;0:12:00;FINISHER\n", encoding="utf-8")
    rows = read_results(path, mapping_from_dict(SPEC, "spreewald"), "r", race_date=date(2026, 4, 26)).rows
    error = rows["parse_errors"][0].to_list()[0]
    assert error["column"] == "Kategorie" and error["value"] == "Staffel" and "matching" in error["expected"]


def test_gun_minus_chip_is_the_start_delay_and_a_gun_time_before_the_chip_time_is_an_error(tmp_path):
    path = tmp_path / "gun.csv"
    path.write_text("Bib,10K,Chip,Gun\n1,0:50:00,3:30:00,3:32:30\n2,0:45:00,3:10:00,3:09:00\n", encoding="utf-8")
    spec = {"columns": {"bib": "Bib", "official_time": "Chip", "gun_time": "Gun"},
            "splits": [{"column": "10K", "point_id": "mat-10k", "km": 10.0}]}
    rows = read_results(path, mapping_from_dict(spec, "gun"), "r").rows
    assert rows["start_delay_s"].to_list() == [150.0, None]
    assert rows["parse_errors"][1].to_list()[0]["column"] == "Gun"


def test_a_birth_year_needs_the_race_date(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Bib,YOB,Finish\n1,1980,3:00:00\n")
    spec = {"columns": {"bib": "Bib", "birth_year": "YOB", "official_time": "Finish"}}
    with pytest.raises(MappingError, match="maps birth_year, expected the race date"):
        read_results(path, mapping_from_dict(spec, "yob"), "r")


@pytest.mark.parametrize(("change", "message"), [
    ({"times": "cumulative"}, "has no official_time"),
    ({"columns": {**SPEC["columns"], "official_time": "Netto"}}, "expected one of them"),
    ({"sex_pattern": "-[MW]"}, "expected a regular expression with one group"),
    ({"columns": {**SPEC["columns"], "age": "Alter"}}, "both age and birth_year"),
])
def test_a_mapping_that_cannot_say_where_the_net_time_is_is_refused(change, message):
    with pytest.raises(MappingError, match=message):
        mapping_from_dict({**SPEC, **change}, "bad")
