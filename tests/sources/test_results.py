"""Results CSVs of several layouts become one row per runner with splits; names never enter."""

import csv
from pathlib import Path

import polars as pl
import pytest

from racecramp.domain import KM_PER_MILE
from racecramp.sources.mapping import MappingError, load_mapping
from racecramp.sources.results import ROWS_SCHEMA, read_results, result_row_problems

from paths import SHARED

FIXTURES = Path(__file__).parent / "fixtures"
BOSTON_2017 = SHARED / "boston_results" / "marathon_results_2017.csv"
BOSTON_SPLIT_COLUMNS = ["5K", "10K", "15K", "20K", "Half", "25K", "30K", "35K", "40K"]


def read_fixture(name: str):
    return read_results(FIXTURES / f"results_{name}.csv", load_mapping(FIXTURES / f"results_{name}.toml"), "test-race")


def splits_of(rows: pl.DataFrame, bib: str) -> list[tuple[str, float, float]]:
    entries = rows.filter(pl.col("bib") == bib).get_column("splits").item().to_list()
    return [(e["point_id"], e["km"], e["net_time_s"]) for e in entries]


def all_strings(frame: pl.DataFrame) -> set[str]:
    """Every string value in the frame, including inside lists and structs."""
    found: set[str] = set()

    def walk(series: pl.Series) -> None:
        if isinstance(series.dtype, pl.List):
            walk(series.explode())
        elif isinstance(series.dtype, pl.Struct):
            for field in series.struct.fields:
                walk(series.struct.field(field))
        elif series.dtype == pl.String:
            found.update(v for v in series.to_list() if v is not None)

    for column in frame.columns:
        walk(frame.get_column(column))
    return found


# ---- Boston 2017, the real file ----------------------------------------------------------


@pytest.fixture(scope="module")
def boston():
    with open(BOSTON_2017, newline="", encoding="utf-8-sig") as fh:
        header, *records = list(csv.reader(fh))
    return header, records, read_results(BOSTON_2017, load_mapping("boston"), "boston-2017")


@pytest.mark.realdata
def test_boston_gives_one_row_per_data_row_in_file_order(boston):
    header, records, read = boston
    assert read.rows.height == len(records) == 26410
    assert read.rows.get_column("bib").to_list() == [r[header.index("Bib")] for r in records]
    # the first data row is line 2 of the file
    assert read.rows.get_column("source_row").to_list() == list(range(2, len(records) + 2))
    assert read.rows.schema == ROWS_SCHEMA


@pytest.mark.realdata
def test_boston_keeps_every_recorded_split_and_the_finish(boston):
    header, records, read = boston
    present = sum(
        1 for r in records for c in BOSTON_SPLIT_COLUMNS if r[header.index(c)].strip() not in ("-", "")
    )
    finishes = sum(1 for r in records if r[header.index("Official Time")].strip() not in ("-", ""))
    assert finishes == len(records)  # the file holds finishers only
    assert read.rows.get_column("splits").list.len().sum() == present + finishes
    assert read.rows.get_column("parse_errors").list.len().sum() == 0
    assert read.rows.get_column("finished").all()


@pytest.mark.realdata
def test_boston_winner_is_read_with_his_splits(boston):
    _, _, read = boston
    winner = read.rows.row(0, named=True)
    assert (winner["bib"], winner["sex"], winner["age"], winner["official_time_s"]) == ("11", "M", 24, 7777.0)  # 2:09:37
    assert splits_of(read.rows, "11")[0] == ("mat-05k", 5.0, 925.0)  # 0:15:25
    assert splits_of(read.rows, "11")[4] == ("mat-half", 21.0975, 3875.0)  # 1:04:35
    assert splits_of(read.rows, "11")[-1] == ("finish", 42.195, 7777.0)


@pytest.mark.realdata
def test_boston_names_and_home_towns_never_enter_the_frame(boston):
    header, records, read = boston
    names = {r[header.index("Name")] for r in records}
    name_parts = {part.strip() for n in names for part in n.split(",")} - {""}
    strings = all_strings(read.rows)
    assert strings.isdisjoint(names)
    assert strings.isdisjoint(name_parts)
    wordy = [s for s in strings if not s.isdigit()]
    assert not [s for s in wordy for n in names if n in s]
    assert read.dropped_columns == ["Name", "City", "State", "Country", "Citizen", "", "Pace", "Proj Time", "Overall", "Gender", "Division"]
    assert read.ignored_columns == []


@pytest.mark.realdata
def test_boston_real_file_has_no_row_problems(boston):
    _, _, read = boston
    assert result_row_problems(read.rows, course_km=42.195).height == 0


# ---- other layouts ---------------------------------------------------------------------


def test_per_segment_seconds_at_mile_markers_become_running_totals_at_km():
    read = read_fixture("mile_segments")
    rows = read.rows
    a1 = rows.filter(pl.col("bib") == "A1").row(0, named=True)
    assert (a1["sex"], a1["age"], a1["wave"], a1["declared_finish_s"], a1["official_time_s"]) == ("F", 34, 1, 12600.0, 12000.0)
    # 2400, 2400 + 2450, 2400 + 2450 + 5100; the finish time is a total
    assert splits_of(rows, "A1") == [
        ("mile-05", 5 * KM_PER_MILE, 2400.0),
        ("mile-10", 10 * KM_PER_MILE, 4850.0),
        ("mile-20", 20 * KM_PER_MILE, 9950.0),
        ("finish", 42.195, 12000.0),
    ]
    # a missing segment leaves later running totals unknown, not wrong
    assert splits_of(rows, "A2") == [("mile-05", 5 * KM_PER_MILE, 3000.0), ("finish", 42.195, 14500.0)]
    assert splits_of(rows, "A3") == [
        ("mile-05", 5 * KM_PER_MILE, 2700.5),
        ("mile-10", 10 * KM_PER_MILE, 5400.0),
        ("mile-20", 20 * KM_PER_MILE, 11000.0),
        ("finish", 42.195, 13000.0),
    ]
    assert rows.get_column("sex").to_list() == ["F", "M", "X"]
    assert rows.get_column("declared_finish_s").to_list() == [12600.0, None, 13500.5]
    assert read.dropped_columns == ["First name"]
    assert read.ignored_columns == ["Club"]
    assert "Ann" not in all_strings(rows)


def test_preamble_lines_are_skipped_and_rows_keep_their_line_in_the_file():
    rows = read_fixture("preamble_dnf").rows
    # two preamble lines, the header on line 3, a blank line 7 between bibs 103 and 104
    assert rows.select("bib", "source_row").rows() == [("101", 4), ("102", 5), ("103", 6), ("104", 8), ("105", 9)]
    assert rows.get_column("parse_errors").list.len().sum() == 0


def test_n_a_cells_are_missing_and_dnf_rows_keep_only_their_furthest_split():
    rows = read_fixture("preamble_dnf").rows
    assert rows.get_column("finished").to_list() == [True, True, False, False, False]
    assert rows.get_column("official_time_s").to_list() == [6330.0, 5700.0, None, None, None]  # 1:45:30, 1:35:00
    assert splits_of(rows, "101") == [("mat-10k", 10.0, 3000.0), ("mat-15k", 15.0, 4500.0), ("finish", 21.0975, 6330.0)]
    assert splits_of(rows, "102") == [("mat-10k", 10.0, 2700.0), ("finish", 21.0975, 5700.0)]  # 15K was n/a
    assert splits_of(rows, "103") == [("mat-15k", 15.0, 5100.0)]  # 10K 0:55:00 dropped, 15K 1:25:00 kept
    assert splits_of(rows, "104") == [("mat-10k", 10.0, 3600.0)]
    assert splits_of(rows, "105") == []
    assert "Doe, Jane" not in all_strings(rows)


def test_mixed_mm_ss_and_h_mm_ss_with_non_breaking_space_blanks():
    read = read_fixture("mixed_nbsp")
    rows = read.rows
    assert splits_of(rows, "7") == [
        ("mat-05k", 5.0, 1470.0),  # 24:30
        ("mat-10k", 10.0, 2950.0),  # 49:10
        ("mat-half", 21.0975, 6320.0),  # 1:45:20
        ("finish", 42.195, 12910.0),  # 3:35:10
    ]
    assert splits_of(rows, "8") == [("mat-10k", 10.0, 3125.0), ("finish", 42.195, 13800.0)]
    assert splits_of(rows, "9") == [
        ("mat-05k", 5.0, 1620.5),
        ("mat-10k", 10.0, 3300.0),
        ("mat-half", 21.0975, pytest.approx(7199.9)),
        ("finish", 42.195, 14700.0),
    ]
    assert rows.get_column("parse_errors").list.len().sum() == 0
    # the header "Official<NBSP>Time" matched the mapping's "Official Time"; City (cp1252 é) dropped
    assert read.dropped_columns == ["City"]
    assert not any("Montr" in s for s in all_strings(rows))


# ---- a broken file ---------------------------------------------------------------------


def test_row_problems_name_exactly_the_bad_rows_with_column_value_and_expectation():
    read = read_fixture("broken")
    problems = result_row_problems(read.rows, course_km=42.195)
    assert problems.select("source_row", "column", "value", "check").rows() == [
        (3, "10K", "0:4x:00", "parse"),
        (4, "10K", "1:75:00", "parse"),
        (5, "Half", "0:51:00", "splits_increase"),
        (6, "50K", "50.0", "km_in_course"),
        (7, "bib", "1", "unique_bib"),
        (8, "<row>", "11 fields", "field_count"),
        (9, "age", "7", "age_range"),
        (11, "official_time_s", "", "finisher_has_time"),
        (12, "M/F", "Q", "parse"),
    ]
    good_rows = set(read.rows.get_column("source_row").to_list()) - set(problems.get_column("source_row").to_list())
    assert good_rows == {2, 10}


def test_row_problem_messages_say_where_what_and_what_was_expected():
    read = read_fixture("broken")
    messages = dict(result_row_problems(read.rows, course_km=42.195).select("source_row", "message").rows())
    assert messages[3] == "row 3 of results_broken.csv: 10K=0:4x:00, expected a time like H:MM:SS or MM:SS"
    assert messages[5] == (
        "row 5 of results_broken.csv: Half=0:51:00 is earlier than 10K=0:52:00, expected splits to increase with distance"
    )
    assert messages[6].startswith("row 6 of results_broken.csv: 50K at km=50.0 is outside the course, expected a km between 0 and 42.195")
    assert messages[7] == "row 7 of results_broken.csv: bib=1 was already used in row 2, expected each bib once per file"
    assert messages[8] == "row 8 of results_broken.csv: <row>=11 fields, expected 10 fields as in the header"
    assert messages[9] == "row 9 of results_broken.csv: age=7 is outside 10..100, expected an age between 10 and 100"


def test_a_row_with_extra_cells_is_not_read_column_by_column():
    # a stray comma shifts cells: the row's name could land in any column, so nothing is read
    read = read_fixture("broken")
    ragged = read.rows.filter(pl.col("source_row") == 8).row(0, named=True)
    assert (ragged["bib"], ragged["age"], ragged["finished"], ragged["splits"]) == (None, None, False, [])
    assert not any("Extra" in s or "Cells" in s or "Brooks" in s for s in all_strings(read.rows))


def test_an_unknown_column_is_reported_not_stored():
    read = read_fixture("broken")
    assert read.ignored_columns == ["Shoe"]
    assert read.dropped_columns == ["Name"]
    assert not {"Nike", "Asics", "Hoka"} & all_strings(read.rows)


def test_equal_consecutive_splits_are_a_problem_too():
    rows = read_fixture("mixed_nbsp").rows.with_columns(
        pl.col("splits").list.eval(pl.element().struct.with_fields(net_time_s=pl.lit(1000.0)))
    )
    problems = result_row_problems(rows, course_km=42.195)
    # bib 7 and 9 have 4 splits (3 repeats each), bib 8 has 2 (1 repeat)
    assert problems.get_column("check").to_list() == ["splits_increase"] * 7
    assert "10K=0:16:40 is the same as 5K=0:16:40" in problems.get_column("message").to_list()[0]


# ---- mappings --------------------------------------------------------------------------


def test_a_missing_mapped_column_names_the_column_and_the_header(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("Bib,Age,M/F,5K\n1,30,F,0:25:00\n")
    with pytest.raises(MappingError, match=r"short.csv: columns \['Official Time', '10K'"):
        read_results(path, load_mapping("boston"), "r")


def write_mapping(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.toml"
    path.write_text('[columns]\nbib = "Bib"\nofficial_time = "Time"\n' + text)
    return path


def test_a_split_needs_exactly_one_of_km_or_mile(tmp_path):
    path = write_mapping(tmp_path, '[[splits]]\ncolumn = "5K"\npoint_id = "mat-05k"\nkm = 5\nmile = 3.1\n')
    with pytest.raises(MappingError, match=r"splits\[0\] \(5K\): expected exactly one of km or mile"):
        load_mapping(path)


def test_a_column_cannot_be_both_mapped_and_dropped(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('drop = ["Name", "Time"]\n[columns]\nbib = "Bib"\nofficial_time = "Time"\n')
    with pytest.raises(MappingError, match=r"columns \['Time'\] are both mapped and in drop"):
        load_mapping(path)


def test_an_unknown_times_mode_is_refused(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('times = "lap"\n[columns]\nbib = "Bib"\nofficial_time = "Time"\n')
    with pytest.raises(MappingError, match=r"times='lap', expected one of cumulative, per_segment"):
        load_mapping(path)


def test_an_unknown_built_in_mapping_name_is_refused():
    with pytest.raises(MappingError, match="no built-in mapping of that name"):
        load_mapping("chicago-1999")
