"""Report fixtures: the Boston 2017 and 2018 demo (real results and weather, SIMULATED cramps)
loaded once per session, and its reports written from the published snapshots."""

from __future__ import annotations

import pytest

from racecramp.config import Settings, load_settings
from racecramp.cli.demo import DEMO_RACES


@pytest.fixture(scope="session")
def demo_settings(tmp_path_factory) -> Settings:
    """Settings whose snapshots hold both demo races (racecramp.cli.demo.load_demo, no serve)."""
    from racecramp.cli.demo import load_demo

    root = tmp_path_factory.mktemp("report-demo")
    mp = pytest.MonkeyPatch()
    mp.setenv("RACECRAMP_DATA_DIR", str(root / "var"))
    mp.setenv("RACECRAMP_CONFIG", str(root / "racecramp.toml"))
    mp.delenv("PREFECT_API_URL", raising=False)
    try:
        settings = load_settings()
        load_demo(settings, say=lambda *_: None)
        yield settings
    finally:
        mp.undo()


@pytest.fixture(scope="session")
def demo_reports(demo_settings, tmp_path_factory) -> dict:
    """race_id -> WrittenReport (HTML + consensus CSVs) for both demo races."""
    from racecramp.report.write import write_report

    out = tmp_path_factory.mktemp("reports")
    return {race_id: write_report(demo_settings, race_id, ("html",), out) for race_id in DEMO_RACES}
