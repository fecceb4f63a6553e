"""`mapping draft` proposes the roles and distances a person would write, for the test layouts
of tests/sources/fixtures and for invented exports of other timing companies; each draft
then reads its file without a parse error."""

from __future__ import annotations

from pathlib import Path

import pytest

from racecramp.domain import HALF_KM, KM_PER_MILE, MARATHON_KM
from racecramp.sources.mapping import load_mapping
from racecramp.sources.mapping_draft import draft_mapping_file, header_distance
from racecramp.sources.results import read_results

from new_race_kit import RACE_ID, race_new_args, spreewald_gpx, spreewald_results

FIXTURES = Path(__file__).parent / "fixtures"


def _split_kms(spec: dict) -> dict[str, float]:
    return {s["column"]: pytest.approx(s["km"], abs=1e-3) for s in spec["splits"]}


@pytest.mark.parametrize(("header", "km"), [
    ("5K", 5.0), ("10km", 10.0), ("KM 10", 10.0), ("10,5 km", 10.5), ("hm", HALF_KM), ("Half", HALF_KM),
    ("13.1M", HALF_KM), ("21.1K", HALF_KM), ("21M", 21 * KM_PER_MILE), ("Mile 5", 5 * KM_PER_MILE), ("Split 30km", 30.0),
    ("10-HM", HALF_KM), ("HM-30km", 30.0), ("35K-40K", 40.0), ("40km-Ziel", "finish"), ("Ziel", "finish"),
])
def test_a_header_names_its_distance(header, km):
    found, _shape = header_distance(header)
    assert found == (km if isinstance(km, str) else pytest.approx(km, abs=1e-3))


def test_split_3_is_a_numbered_split_without_a_distance():
    assert header_distance("split_3") == (3.0, "ordinal")
    assert header_distance("Name") == (None, None)


def _draft(path: Path, race_file: Path | None = None, race_date=None):
    draft = draft_mapping_file(path, race_file)
    mapping = load_mapping_text(draft.toml, path.parent / f"{path.stem}.draft.toml")
    read = read_results(path, mapping, "draft-test", race_date=race_date)
    return draft, read


def load_mapping_text(text: str, where: Path):
    where.write_text(text, encoding="utf-8")
    return load_mapping(where)


def test_boston_like_layout(tmp_path):
    draft, read = _draft(FIXTURES / "results_broken.csv")
    spec = draft.spec
    assert spec["columns"] == {"bib": "Bib", "age": "Age", "sex": "M/F", "official_time": "Official Time"}
    assert _split_kms(spec) == {"5K": 5.0, "10K": 10.0, "Half": HALF_KM}
    assert spec["times"] == "cumulative" and spec["finish"]["km"] == MARATHON_KM
    assert "Name" in spec["drop"] and any("50K" in line for line in draft.review)  # 50 km on a marathon: left out


def test_semicolon_mile_segments_in_seconds(tmp_path):
    draft, read = _draft(FIXTURES / "results_mile_segments.csv")
    spec = draft.spec
    assert (spec["delimiter"], spec["times"], spec["time_format"]) == (";", "per_segment", "seconds")
    assert spec["columns"] == {"bib": "Bib", "sex": "Gender", "age": "Age", "wave": "Wave", "declared_finish": "Target",
                               "official_time": "Finish Time"}
    assert _split_kms(spec) == {"Mile 5": 5 * KM_PER_MILE, "Mile 10": 10 * KM_PER_MILE, "Mile 20": 20 * KM_PER_MILE}
    assert spec["sex_values"] == {"M": "M", "W": "F", "X": "X"} and spec["drop"] == ["First name", "Club"]
    assert read.rows["parse_errors"].list.len().sum() == 0


def test_cp1252_with_non_breaking_spaces(tmp_path):
    draft, read = _draft(FIXTURES / "results_mixed_nbsp.csv")
    assert draft.spec["encoding"] == "cp1252" and draft.spec["columns"]["official_time"] == "Official Time"
    assert _split_kms(draft.spec) == {"5K": 5.0, "10K": 10.0, "Half": HALF_KM}
    assert any("non-breaking space" in line for line in draft.review)
    assert read.rows["parse_errors"].list.len().sum() == 0


def test_preamble_lines_and_dnf_markers_of_a_half_marathon(tmp_path):
    draft, read = _draft(FIXTURES / "results_preamble_dnf.csv")
    spec = draft.spec
    assert spec["preamble_lines"] == 2 and spec["finish"]["km"] == HALF_KM  # "Riverside Half Marathon" in the preamble
    assert spec["columns"]["official_time"] == "Finish" and "N/A" in spec["missing"] and "DNF" in spec["dnf"]["values"]
    assert _split_kms(spec) == {"10K": 10.0, "15K": 15.0}
    assert read.rows.filter(read.rows["bib"] == "103")["finished"].item() is False


def test_a_german_per_segment_export_without_a_finish_column(tmp_path):
    gpx = spreewald_gpx(tmp_path / "loop.gpx")
    from typer.testing import CliRunner

    from racecramp.cli import app

    assert CliRunner().invoke(app, race_new_args(gpx, tmp_path / "race")).exit_code == 0
    from datetime import date

    draft, read = _draft(spreewald_results(tmp_path / "export.csv"), tmp_path / "race" / f"{RACE_ID}.toml", date(2026, 4, 26))
    spec = draft.spec
    assert spec["times"] == "per_segment" and spec["finish"]["column"] == "40km-Ziel" and "official_time" not in spec["columns"]
    assert spec["columns"]["sex"] == "Kategorie" and "sex_pattern" in spec and spec["columns"]["birth_year"] == "Jahrgang"
    assert spec["dnf"]["column"] == "Status" and set(spec["dnf"]["values"]) == {"DNF", "DSQ"}
    assert [s["point_id"] for s in spec["splits"]] == ["mat-05k", "mat-10k", "mat-half", "mat-30k", "mat-35k", "mat-40k"]
    assert {"Name", "Verein"} <= set(spec["drop"])
    assert read.rows["parse_errors"].list.len().sum() == 0


def test_a_french_export_with_gun_and_chip_times(tmp_path):
    path = tmp_path / "resultats.csv"
    path.write_text(
        "Dossard,Nom,Prénom,Sexe,Âge,Club,5 km,10 km,Semi,30 km,Temps officiel,Temps net\n"
        "12,Martin,Léa,F,34,AC Lyon,0:26:10,0:52:30,1:51:00,2:38:00,3:46:20,3:44:05\n"
        "13,Durand,Paul,H,47,,0:24:00,0:48:10,1:42:00,2:25:30,DNF,DNF\n"
        "14,Petit,Anne,F,29,,0:22:00,0:44:00,1:33:10,2:13:00,3:09:50,3:09:20\n",
        encoding="utf-8",
    )
    draft, read = _draft(path)
    spec = draft.spec
    assert spec["columns"]["official_time"] == "Temps net" and spec["columns"]["gun_time"] == "Temps officiel"
    assert spec["columns"]["sex"] == "Sexe" and spec["sex_values"] == {"F": "F", "H": "M"} and spec["columns"]["age"] == "Âge"
    assert _split_kms(spec) == {"5 km": 5.0, "10 km": 10.0, "Semi": HALF_KM, "30 km": 30.0}
    assert {"Nom", "Prénom", "Club"} <= set(spec["drop"])
    assert read.rows.filter(read.rows["bib"] == "12")["start_delay_s"].item() == 135.0  # 3:46:20 gun - 3:44:05 chip


def test_an_american_export_in_miles_with_a_tab_delimiter(tmp_path):
    path = tmp_path / "results.tsv"
    path.write_text(
        "Bib\tFirst Name\tLast Name\tGender\tAge\tMile 5\t13.1M\t21M\tChip Time\tGun Time\tOverall Place\n"
        "501\tAmy\tLee\tFemale\t41\t0:45:10\t1:59:00\t3:15:40\t4:05:10\t4:09:00\t812\n"
        "502\tBen\tOrr\tMale\t38\t0:38:00\t1:40:30\t2:44:00\t3:30:00\t3:31:10\t233\n",
        encoding="utf-8",
    )
    draft, read = _draft(path)
    spec = draft.spec
    assert spec["delimiter"] == "\t" and spec["columns"]["official_time"] == "Chip Time" and spec["columns"]["gun_time"] == "Gun Time"
    assert _split_kms(spec) == {"Mile 5": 5 * KM_PER_MILE, "13.1M": HALF_KM, "21M": 21 * KM_PER_MILE}
    assert spec["sex_values"] == {"Female": "F", "Male": "M"} and "Overall Place" in spec["drop"]
    assert read.rows["parse_errors"].list.len().sum() == 0


def test_numbered_splits_take_their_km_from_the_race_files_mats(tmp_path):
    gpx = spreewald_gpx(tmp_path / "loop.gpx")
    from typer.testing import CliRunner

    from racecramp.cli import app

    assert CliRunner().invoke(app, race_new_args(gpx, tmp_path / "race")).exit_code == 0
    path = tmp_path / "splits.csv"
    path.write_text(
        "bib_no,gender,yob,split_1,split_2,split_3,split_4,split_5,split_6,net_time\n"
        "3,M,1980,0:22:00,0:44:10,1:34:00,2:15:00,2:38:00,3:02:00,3:12:40\n"
        "4,F,1991,0:27:00,0:54:30,1:56:00,2:46:00,3:14:00,3:42:00,3:55:00\n",
        encoding="utf-8",
    )
    from datetime import date

    draft, read = _draft(path, tmp_path / "race" / f"{RACE_ID}.toml", date(2026, 4, 26))
    spec = draft.spec
    assert spec["columns"]["bib"] == "bib_no" and spec["columns"]["birth_year"] == "yob" and spec["columns"]["official_time"] == "net_time"
    assert [(s["column"], s["point_id"]) for s in spec["splits"]] == [
        ("split_1", "mat-05k"), ("split_2", "mat-10k"), ("split_3", "mat-half"), ("split_4", "mat-30k"), ("split_5", "mat-35k"),
        ("split_6", "mat-40k")]
    assert spec["times"] == "cumulative" and read.rows["age"].to_list() == [46, 35]
