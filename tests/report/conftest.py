"""Report fixtures: the reports of the Boston 2017 and 2018 demo (tests/conftest.py: demo_settings)."""

from __future__ import annotations

import pytest

from racecramp.cli.demo import DEMO_RACES


@pytest.fixture(scope="session")
def demo_reports(demo_settings, tmp_path_factory) -> dict:
    """race_id -> WrittenReport (HTML + consensus CSVs) for both demo races."""
    from racecramp.report.write import write_report

    out = tmp_path_factory.mktemp("reports")
    return {race_id: write_report(demo_settings, race_id, ("html",), out) for race_id in DEMO_RACES}
