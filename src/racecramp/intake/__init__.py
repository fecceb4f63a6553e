"""The HTTP receiver: validate shape, authenticate the station or feed, append to landing."""

from racecramp.intake.app import create_app, run_intake

__all__ = ["create_app", "run_intake"]
