"""Closing a race goes through landing -> validation -> the single writer like every write."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from racecramp import landing
from racecramp.report.closure import close_race, closure_record
from racecramp.warehouse.sql import query
from racecramp.warehouse.writer import open_writer

CLOSED_AT = datetime(2017, 4, 17, 22, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_prefect(monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)


def test_a_closure_is_landed_then_merged_into_stg_race_closures(boston_2017):
    result = close_race(boston_2017, "boston-2017", "medical-director", CLOSED_AT)
    assert result.batch.path.exists() and result.batch.kind == "race_closures"
    assert result.accepted is True and result.event_emitted is False  # no Prefect API here: nothing to tell
    with open_writer(boston_2017.warehouse_path) as con:
        rows = query(con, "SELECT race_id, closed_at_utc, closed_by FROM race_closures").rows()
    assert rows == [("boston-2017", CLOSED_AT, "medical-director")]


def test_closing_twice_keeps_both_closures_and_landing_is_append_only(boston_2017):
    close_race(boston_2017, "boston-2017", "a", CLOSED_AT)
    close_race(boston_2017, "boston-2017", "b", CLOSED_AT.replace(minute=45))
    assert len(landing.list_batches(boston_2017.landing_dir, ["race_closures"])) == 2
    with open_writer(boston_2017.warehouse_path) as con:
        assert query(con, "SELECT closed_by FROM race_closures ORDER BY closed_at_utc")["closed_by"].to_list() == ["a", "b"]


def test_closing_an_unknown_race_is_quarantined_with_its_reason(boston_2017):
    result = close_race(boston_2017, "nowhere-2020", "someone", CLOSED_AT)
    assert result.accepted is False and result.event_emitted is False
    with open_writer(boston_2017.warehouse_path) as con:
        messages = query(con, "SELECT message FROM quarantine WHERE source LIKE 'race_closures%'")["message"].to_list()
        assert query(con, "SELECT count(*) AS n FROM race_closures")["n"][0] == 0
    assert len(messages) == 1 and "race_id='nowhere-2020'" in messages[0] and "has been imported" in messages[0]


def test_a_closure_time_without_zone_is_refused():
    with pytest.raises(ValueError, match="closed_at_utc=.* has no time zone"):
        closure_record("boston-2017", "x", datetime(2017, 4, 17, 22, 30))


def test_cli_close_race_and_report(boston_2017, tmp_path):
    from racecramp.cli.main import app

    runner = CliRunner()
    closed = runner.invoke(app, ["close-race", "boston-2017", "--by", "md"])
    assert closed.exit_code == 0, closed.output
    assert "closed boston-2017" in closed.output and "no event emitted" in closed.output
    refused = runner.invoke(app, ["close-race", "nowhere-2020"])
    assert refused.exit_code == 1 and "quarantined" in refused.output
    report = runner.invoke(app, ["report", "--race", "boston-2017", "--out", str(tmp_path / "out")])
    assert report.exit_code == 0, report.output
    assert (tmp_path / "out" / "report-boston-2017.html").exists()
    assert (tmp_path / "out" / "consensus-rates-boston-2017.csv").exists()
    bad = runner.invoke(app, ["report", "--race", "boston-2017", "--format", "docx"])
    assert bad.exit_code == 2 and "expected one of html, pdf" in bad.output


def test_a_closer_typed_as_a_name_is_refused_before_anything_lands(boston_2017):
    from racecramp.report.closure import ClosureError

    with pytest.raises(ClosureError, match="never a typed name"):
        close_race(boston_2017, "boston-2017", "Dr Ada Lovelace", CLOSED_AT)
    assert landing.list_batches(boston_2017.landing_dir, ["race_closures"]) == []
