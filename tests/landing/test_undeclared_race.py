"""Results, reports and surveys for a race no race file declares are refused before anything
lands, naming the command that declares it; a dry run validates and lands nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from racecramp import landing
from racecramp.cli import app
from racecramp.landing.bulk import RaceNotDeclared, import_race, import_results, import_tabular

from paths import DATA

FIXTURES = Path(__file__).parents[1] / "sources" / "fixtures"


def _landed(settings) -> list:
    return landing.list_batches(settings.landing_dir)


def test_results_for_an_undeclared_race_are_refused_and_nothing_lands(settings):
    with pytest.raises(RaceNotDeclared, match=r"'lakeside-2026' is not declared .*nothing was landed.*racecramp import race"):
        import_results(settings, DATA / "boston-2017" / "results.csv", "lakeside-2026")
    assert _landed(settings) == []


def test_the_cli_says_it_in_one_line_with_the_command_to_run(settings):
    result = CliRunner().invoke(app, ["import", "results", str(DATA / "boston-2017" / "results.csv"), "--race", "lakeside-2026"])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert lines[-1].startswith("error: results.csv: --race 'lakeside-2026' is not declared")
    assert "racecramp import race RACE.toml" in result.output and "racecramp race new" in result.output
    assert _landed(settings) == []


def test_reports_and_surveys_for_an_undeclared_race_are_refused_too(boston_2017, tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("report_id,station,km,bib,time\n")
    before = _landed(boston_2017)
    for mapping in ("reports", "survey"):
        with pytest.raises(RaceNotDeclared, match="'chicago-2026' is not declared"):
            import_tabular(boston_2017, log, "chicago-2026", mapping)
    assert _landed(boston_2017) == before


def test_a_race_landed_but_not_yet_merged_counts_as_declared(settings, tmp_path):
    import_race(settings, DATA / "races" / "boston-2017.toml", ingest=False)
    result = import_results(settings, DATA / "boston-2017" / "results.csv", "boston-2017", ingest=False)
    assert result.landed_rows == 26410


def test_a_dry_run_counts_and_explains_and_lands_nothing(boston_2017, tmp_path):
    race = tmp_path / "broken-2024.toml"
    (tmp_path / "c.csv").write_text("point_id,kind,km,label,beds,position_source\nmat-05k,timing_mat,5,a,,t\n"
                                    "mat-10k,timing_mat,10,b,,t\nmat-half,timing_mat,21.0975,c,,t\nfinish,finish,42.195,d,,t\n")
    race.write_text('[race]\nrace_id = "broken-2024"\nname = "Broken"\ndate = "2024-05-05"\ntimezone = "Europe/London"\n'
                    'distance_km = 42.195\ncourse = "c.csv"\n\n[[waves]]\nwave = 1\nstart_local = "09:00"\n')
    import_race(boston_2017, race)
    before = _landed(boston_2017)
    result = import_results(boston_2017, FIXTURES / "results_broken.csv", "broken-2024",
                            mapping=str(FIXTURES / "results_broken.toml"), dry_run=True)
    assert _landed(boston_2017) == before and result.batches == [] and result.summary is None
    dry = result.dry_run
    # the same counts as the real import (tests/landing/test_bulk.py): bibs 1 and 9 good, 9 rows quarantined
    assert (dry.rows, dry.accepted, dry.quarantined) == (11, 2, 9)
    assert dry.messages[0].startswith("row 3 of results_broken.csv: ") and "10K=0:4x:00" in dry.messages[0]
    output = CliRunner().invoke(app, ["import", "results", str(FIXTURES / "results_broken.csv"), "--race", "broken-2024",
                                      "--mapping", str(FIXTURES / "results_broken.toml"), "--dry-run"]).output
    shown = " ".join(output.split())  # the console wraps long lines
    assert "(nothing landed)" in shown and "row 3 of results_broken.csv: 10K=0:4x:00" in shown
