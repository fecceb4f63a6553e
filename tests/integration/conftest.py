"""A real racecramp stack on loopback per module: config with fresh ports and test tokens."""

from __future__ import annotations

import pytest

from stack import config_settings


@pytest.fixture(scope="module")
def stack_settings(tmp_path_factory):
    with config_settings(tmp_path_factory.mktemp("stack")) as settings:
        yield settings
