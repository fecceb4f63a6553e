"""Shared fixtures: a fresh data dir per test, the Boston course imported from data/."""

from __future__ import annotations

import pytest

from racecramp.config import Settings, load_settings

from paths import DATA, SHARED


def pytest_collection_modifyitems(config, items):
    """Tests marked `realdata` read ../shared/realdata: they run whenever it is there (as in CI)
    and are skipped, saying why, only on a machine without it."""
    if SHARED.is_dir():
        return
    skip = pytest.mark.skip(reason=f"needs the real data beside the checkout ({SHARED.name} in ../shared), absent here")
    for item in items:
        if "realdata" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _keep_main_module():
    """streamlit's AppTest leaves sys.modules["__main__"] pointing at the app script; a later
    test that starts processes with multiprocessing "spawn" (Dask workers) would then re-run
    the dashboard in each child. Put pytest's own __main__ back after every test."""
    import sys

    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("RACECRAMP_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("RACECRAMP_CONFIG", str(tmp_path / "racecramp.toml"))
    return load_settings()


@pytest.fixture
def boston_2017(settings):
    """Settings whose warehouse knows the Boston 2017 race and course."""
    from racecramp.landing.bulk import import_race

    import_race(settings, DATA / "races" / "boston-2017.toml")
    return settings


@pytest.fixture(scope="session")
def demo_settings(tmp_path_factory) -> Settings:
    """Settings whose warehouse and snapshots hold both demo races (racecramp.cli.demo.load_demo,
    no serve): Boston 2017 and 2018, real results and weather, SIMULATED cramps. Loaded once per
    session (worker); the environment is left as it was."""
    from racecramp.cli.demo import load_demo

    root = tmp_path_factory.mktemp("demo")
    mp = pytest.MonkeyPatch()
    mp.setenv("RACECRAMP_DATA_DIR", str(root / "var"))
    mp.setenv("RACECRAMP_CONFIG", str(root / "racecramp.toml"))
    mp.delenv("PREFECT_API_URL", raising=False)
    try:
        settings = load_settings()
        load_demo(settings, say=lambda *_: None)
    finally:
        mp.undo()
    return settings
