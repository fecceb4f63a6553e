"""Dashboard fixtures: the small race published in a temp data dir (one per test module)."""

from __future__ import annotations

import pytest

from racecramp.config import Settings

from apptest_helpers import race_env
from dashboard_fixtures import small_race


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Settings:
    """The small race (tests/dashboards/dashboard_fixtures.py) published; shared by a test module."""
    root = tmp_path_factory.mktemp("dashboard")
    with race_env(root) as settings:
        small_race(settings)
        yield settings


