"""Prefect flow `poll-weather`: land the latest observations from the configured feeds."""

from __future__ import annotations

from prefect import flow, get_run_logger

from racecramp.config import load_settings
from racecramp.sources.weather_feed import poll_weather


@flow(name="poll-weather")
def poll() -> dict:
    result = poll_weather(load_settings())
    logger = get_run_logger()
    for error in result.errors:
        logger.warning(error)  # a stale or failing feed is recorded, never fatal
    return result.__dict__
