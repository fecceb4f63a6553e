"""A real racecramp stack on loopback per module: config with fresh ports and test tokens."""

from __future__ import annotations

import os

import pytest

from racecramp.config import load_settings

from stack import write_config


@pytest.fixture(scope="module")
def stack_settings(tmp_path_factory):
    directory = tmp_path_factory.mktemp("stack")
    config = write_config(directory)
    old = os.environ.get("RACECRAMP_CONFIG")
    os.environ["RACECRAMP_CONFIG"] = str(config)
    os.environ.pop("RACECRAMP_DATA_DIR", None)
    try:
        yield load_settings()
    finally:
        if old is None:
            os.environ.pop("RACECRAMP_CONFIG", None)
        else:
            os.environ["RACECRAMP_CONFIG"] = old
