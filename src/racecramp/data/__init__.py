"""The data the package ships for the demo and the tests: Boston race files, anonymised
results, race-day weather (README.md in this folder gives each file's source)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_dir() -> Path:
    """The folder of the shipped data files (inside the installed package)."""
    return Path(str(resources.files(__name__)))
