"""Every CSV racecramp writes: a text cell a spreadsheet would run as a formula starts with '."""

from __future__ import annotations

import csv

import polars as pl
import pytest

from racecramp.spreadsheet import csv_text, write_csv


@pytest.mark.parametrize("cell", ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_a_formula_leading_text_cell_is_neutralised(tmp_path, cell):
    path = write_csv(pl.DataFrame({"bib": [cell], "cases": [-3]}), tmp_path / "out.csv")
    with open(path, newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["bib"] == "'" + cell and row["cases"] == "-3"  # numbers stay numbers


def test_plain_text_and_nested_columns_are_written_as_they_are():
    text = csv_text(pl.DataFrame({"bib": ["8123", "F108"], "splits": [[1, 2], [3]]}))
    assert text.splitlines() == ["bib,splits", '8123,"[1, 2]"', "F108,[3]"]


def test_sql_csv_output_neutralises_formula_cells(demo_settings, monkeypatch):
    from typer.testing import CliRunner

    from racecramp.cli import app

    monkeypatch.setenv("RACECRAMP_DATA_DIR", str(demo_settings.data_dir))
    result = CliRunner().invoke(app, ["sql", "--csv", "-c", "SELECT '=1+1' AS sneaky, count(*) AS races FROM races"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["sneaky,races", "'=1+1,2"]
