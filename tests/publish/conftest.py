"""Fixtures for these tests (tests/race_day.py)."""

from race_day import race_day, race_day_template  # noqa: F401
