"""Shared fixtures: a fresh data dir per test, the Boston course imported from data/."""

from __future__ import annotations

from pathlib import Path

import pytest

from racecramp.config import load_settings

from paths import DATA


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("RACECRAMP_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("RACECRAMP_CONFIG", str(tmp_path / "racecramp.toml"))
    return load_settings()


@pytest.fixture
def boston_2017(settings):
    """Settings whose warehouse knows the Boston 2017 race and course."""
    from racecramp.imports import import_race

    import_race(settings, DATA / "races" / "boston-2017.toml")
    return settings
