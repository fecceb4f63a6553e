"""Intake fixtures for these tests (tests/intake_kit.py)."""

from intake_kit import _no_racecramp_env, client, intake_settings, kit  # noqa: F401
