"""Issue 2 acceptance: importers land real and awkward files through the one way in."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from racecramp.landing.bulk import import_race, import_results, import_weather
from racecramp.warehouse.sql import query, scalar
from racecramp.warehouse.writer import open_writer

from paths import DATA, SHARED

FIXTURES = Path(__file__).parents[1] / "sources" / "fixtures"
SPLIT_COLUMNS = ["5K", "10K", "15K", "20K", "Half", "25K", "30K", "35K", "40K"]


def _counts(settings) -> dict[str, int]:
    with open_writer(settings.warehouse_path) as con:
        return {t: scalar(con, f"SELECT count(*) FROM {t}") for t in ("participants", "passings", "quarantine", "raw_records")}


def _expected_from_csv(path: Path) -> tuple[int, int]:
    """Rows and non-missing splits (+ the finish) counted straight from the CSV."""
    rows = passings = 0
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            rows += 1
            passings += sum(1 for c in SPLIT_COLUMNS if row[c].strip() not in ("", "-"))
            passings += 1 if row["Official Time"].strip() not in ("", "-") else 0
    return rows, passings


def test_boston_2017_gives_one_participant_per_row_and_one_passing_per_split(boston_2017):
    results = DATA / "boston-2017" / "results.csv"
    expected_rows, expected_passings = _expected_from_csv(results)
    import_results(boston_2017, results, "boston-2017")
    counts = _counts(boston_2017)
    assert counts["participants"] == expected_rows == 26410
    assert counts["passings"] == expected_passings
    assert counts["quarantine"] == 0


def test_importing_the_same_file_twice_changes_no_count(boston_2017):
    results = DATA / "boston-2017" / "results.csv"
    import_results(boston_2017, results, "boston-2017")
    first = _counts(boston_2017)
    import_results(boston_2017, results, "boston-2017")
    second = _counts(boston_2017)
    assert {k: second[k] for k in ("participants", "passings", "quarantine")} == {
        k: first[k] for k in ("participants", "passings", "quarantine")
    }


def test_every_passing_gets_a_wall_clock_from_its_wave(boston_2017):
    import_results(boston_2017, DATA / "boston-2017" / "results.csv", "boston-2017")
    with open_writer(boston_2017.warehouse_path) as con:
        missing = scalar(con, "SELECT count(*) FROM passings WHERE passed_at_utc IS NULL")
        # bib 11 (wave 0, elite men, 09:37 EDT) reached 5K in 0:15:25
        at_5k = scalar(con, "SELECT passed_at_utc FROM passings WHERE bib = '11' AND point_id = 'mat-05k'")
    assert missing == 0
    assert at_5k.isoformat().startswith("2017-04-17T13:52:25")


@pytest.mark.realdata
def test_no_name_from_the_source_file_reaches_any_table(boston_2017):
    source = SHARED / "boston_results" / "marathon_results_2017.csv"
    import_results(boston_2017, source, "boston-2017")
    with open(source, newline="", encoding="utf-8") as fh:
        names = [row["Name"] for row in csv.DictReader(fh)]
    blob_parts = []
    with open_writer(boston_2017.warehouse_path) as con:
        tables = query(con, "SELECT table_name FROM duckdb_tables()")["table_name"].to_list()
        for table in tables:
            columns = query(con, f"SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = '{table}'")
            for column, dtype in columns.iter_rows():
                if dtype in ("VARCHAR", "JSON") or dtype.endswith("[]") or dtype.startswith("STRUCT"):
                    values = query(con, f'SELECT DISTINCT CAST("{column}" AS VARCHAR) AS v FROM {table}')["v"]
                    blob_parts.extend(v for v in values.to_list() if v)
    words = set(re.findall(r"[^\W\d_]{2,}", "\n".join(blob_parts).lower()))
    blob = "\n".join(blob_parts)
    assert len(names) == 26410
    leaked = substrings_of(names, blob)
    assert leaked == []
    # no runner's full set of name words is present either (catches "First Last" re-orderings)
    reassemblable = [n for n in names if (toks := re.findall(r"[^\W\d_]{2,}", n.lower())) and all(t in words for t in toks)]
    assert reassemblable == []


def substrings_of(needles: list[str], text: str) -> list[str]:
    """The needles that occur in text, exactly. Every window of each needle length gets a
    polynomial hash (modulo 2**64, vectorised with numpy); windows whose hash matches a needle's
    are confirmed with `in`, so a hash collision can never hide or invent a leak."""
    bytes_ = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    data = bytes_.astype(np.uint64)
    base = 1_000_003
    inverse = pow(base, -1, 2**64)
    with np.errstate(over="ignore"):  # arithmetic modulo 2**64 is the point
        powers = np.ones(data.size + 1, dtype=np.uint64)
        powers[1:] = np.uint64(base)
        powers = np.cumprod(powers, dtype=np.uint64)
        inverses = np.ones(data.size + 1, dtype=np.uint64)
        inverses[1:] = np.uint64(inverse)
        inverses = np.cumprod(inverses, dtype=np.uint64)
        prefix = np.zeros(data.size + 1, dtype=np.uint64)
        prefix[1:] = np.cumsum(data * powers[:-1], dtype=np.uint64)
        by_length: dict[int, list[str]] = {}
        for needle in needles:
            by_length.setdefault(len(needle.encode("utf-8")), []).append(needle)
        found = []
        for length, group in by_length.items():
            if length == 0 or length > data.size:
                continue
            encoded = [n.encode("utf-8") for n in group]
            # only windows that start and end with a byte some needle starts and ends with
            first, last = np.zeros(256, dtype=bool), np.zeros(256, dtype=bool)
            first[[e[0] for e in encoded]] = True
            last[[e[-1] for e in encoded]] = True
            starts = np.nonzero(first[bytes_[: bytes_.size - length + 1]] & last[bytes_[length - 1:]])[0]
            windows = (prefix[starts + length] - prefix[starts]) * inverses[starts]
            hashes = np.array([_hash(e, base) for e in encoded], dtype=np.uint64)
            order = np.sort(hashes)
            slots = np.minimum(np.searchsorted(order, windows), order.size - 1)
            seen = set(windows[order[slots] == windows].tolist())
            found += [n for n, h in zip(group, hashes.tolist()) if h in seen and n in text]
    return found


def _hash(data: bytes, base: int) -> int:
    return sum(byte * pow(base, k, 2**64) for k, byte in enumerate(data)) % 2**64


def test_substrings_of_finds_every_needle_in_the_text_and_no_other():
    text = "runner Kirui, Geoffrey at mat-05k; Linda, X; {\"bib\": \"8123\"}"
    assert substrings_of(["Kirui, Geoffrey", "Li, X", "inda, X", "8123", "Rupp, Galen"], text) == ["Kirui, Geoffrey", "inda, X", "8123"]


def _race_file(tmp_path: Path, race_id: str, distance_km: float, points: list[tuple[str, str, float]]) -> Path:
    course = tmp_path / f"{race_id}-course.csv"
    course.write_text("point_id,kind,km,label,beds,position_source\n" + "".join(
        f"{pid},{kind},{km},{pid},,test course\n" for pid, kind, km in points))
    race = tmp_path / f"{race_id}.toml"
    race.write_text(
        f'[race]\nrace_id = "{race_id}"\nname = "Test race"\ndate = "2024-05-05"\ntimezone = "Europe/London"\n'
        f'distance_km = {distance_km}\ncourse = "{course.name}"\n\n[[waves]]\nwave = 1\nstart_local = "09:00"\n'
        f'[[waves]]\nwave = 2\nstart_local = "09:20"\n'
    )
    return race


def test_broken_rows_are_quarantined_exactly_and_good_rows_imported(settings, tmp_path):
    race = _race_file(tmp_path, "broken-2024", 42.195,
                      [("mat-05k", "timing_mat", 5.0), ("mat-10k", "timing_mat", 10.0), ("mat-half", "timing_mat", 21.0975),
                       ("finish", "finish", 42.195)])
    import_race(settings, race)
    result = import_results(settings, FIXTURES / "results_broken.csv", "broken-2024", mapping=str(FIXTURES / "results_broken.toml"))
    with open_writer(settings.warehouse_path) as con:
        bibs = sorted(query(con, "SELECT bib FROM participants")["bib"].to_list())
        q = query(con, "SELECT row_in_batch, message FROM quarantine ORDER BY row_in_batch")
    assert bibs == ["1", "9"]
    assert result.summary.quarantined == 9
    messages = q["message"].to_list()
    rows_named = sorted(int(re.match(r"row (\d+) of results_broken\.csv: ", m).group(1)) for m in messages)
    assert rows_named == [3, 4, 5, 6, 7, 8, 9, 11, 12]
    by_row = {int(re.match(r"row (\d+)", m).group(1)): m for m in messages}
    assert "10K=0:4x:00" in by_row[3]
    assert "10K=1:75:00" in by_row[4]
    assert "Half" in by_row[5] and "earlier" in by_row[5]
    assert "50K" in by_row[6]
    assert "row 2" in by_row[7] and "bib" in by_row[7]
    assert "fields" in by_row[8]
    assert "age" in by_row[9] and "7" in by_row[9]
    assert "Shoe" in " ".join(result.notes)


@pytest.mark.parametrize(
    ("fixture", "race_id", "distance_km", "points", "participants", "passings"),
    [
        ("results_mile_segments", "miles-2024", 42.195,
         [("mile-05", "timing_mat", 8.04672), ("mile-10", "timing_mat", 16.09344), ("mile-20", "timing_mat", 32.18688),
          ("finish", "finish", 42.195)], 3, None),
        ("results_preamble_dnf", "riverside-2024", 21.0975,
         [("mat-10k", "timing_mat", 10.0), ("mat-15k", "timing_mat", 15.0), ("finish", "finish", 21.0975)], None, None),
        ("results_mixed_nbsp", "mixed-2024", 42.195,
         [("mat-05k", "timing_mat", 5.0), ("mat-10k", "timing_mat", 10.0), ("mat-half", "timing_mat", 21.0975),
          ("finish", "finish", 42.195)], 3, None),
    ],
)
def test_other_layouts_import_through_their_mapping(settings, tmp_path, fixture, race_id, distance_km, points, participants, passings):
    from racecramp.sources.mapping import load_mapping
    from racecramp.sources.results import read_results

    import_race(settings, _race_file(tmp_path, race_id, distance_km, points))
    mapping = str(FIXTURES / f"{fixture}.toml")
    read = read_results(FIXTURES / f"{fixture}.csv", load_mapping(mapping), race_id)
    expected_passings = sum(len(s) for s in read.rows["splits"].to_list())
    result = import_results(settings, FIXTURES / f"{fixture}.csv", race_id, mapping=mapping)
    counts = _counts(settings)
    assert result.summary.quarantined == 0
    assert counts["participants"] == read.rows.height
    assert counts["passings"] == expected_passings
    if participants is not None:
        assert counts["participants"] == participants


def test_mile_segment_times_become_running_totals_in_the_warehouse(settings, tmp_path):
    import_race(settings, _race_file(tmp_path, "miles-2024", 42.195,
        [("mile-05", "timing_mat", 8.04672), ("mile-10", "timing_mat", 16.09344), ("mile-20", "timing_mat", 32.18688), ("finish", "finish", 42.195)]))
    import_results(settings, FIXTURES / "results_mile_segments.csv", "miles-2024", mapping=str(FIXTURES / "results_mile_segments.toml"))
    with open_writer(settings.warehouse_path) as con:
        a1 = query(con, "SELECT point_id, km, net_time_s FROM passings WHERE bib = 'A1' ORDER BY km")
    # A1: 2400 s to mile 5, +2450 to mile 10, +5100 to mile 20, finish 12000 s total
    assert a1["net_time_s"].to_list() == [2400.0, 4850.0, 9950.0, 12000.0]
    assert a1["km"].to_list()[0] == pytest.approx(5 * 1.609344)


def test_visual_crossing_weather_lands_in_celsius_and_metres_per_second(boston_2017):
    import_weather(boston_2017, DATA / "weather" / "boston_hourly.csv", "boston-2017")
    with open_writer(boston_2017.warehouse_path) as con:
        row = query(con, "SELECT temp_c, dew_point_c, wind_m_s FROM weather_observations "
                         "WHERE observed_at_utc = TIMESTAMPTZ '2017-04-17 14:00:00+00'")
    # 10:00 EDT: 70.1 °F, dew 46.0 °F, 15.1 mph (hand-checked)
    assert row["temp_c"][0] == pytest.approx((70.1 - 32) * 5 / 9)
    assert row["dew_point_c"][0] == pytest.approx((46.0 - 32) * 5 / 9)
    assert row["wind_m_s"][0] == pytest.approx(15.1 * 0.44704)


def test_asos_metar_weather_lands_with_knots_converted(boston_2017):
    import_weather(boston_2017, FIXTURES / "weather_iem_asos_bos_20170417.csv", "boston-2017")
    with open_writer(boston_2017.warehouse_path) as con:
        rows = query(con, "SELECT observed_at_utc, temp_c, wind_m_s, source FROM weather_observations ORDER BY observed_at_utc")
    assert rows.height > 0 and rows["source"][0].startswith("iem-asos")
    assert rows["wind_m_s"].drop_nulls().max() < 30  # knots converted, not left as knots*…
