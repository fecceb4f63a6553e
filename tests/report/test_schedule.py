"""The scheduled report runs at 06:00 in the race's own time zone, the morning after the race."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from racecramp.report.schedule import report_schedule


def _races(race_id: str, day: date, tz: str) -> pl.DataFrame:
    return pl.DataFrame({"race_id": [race_id], "date": [day], "timezone": [tz]})


def test_boston_2017_report_runs_at_six_on_the_18th_of_april_boston_time():
    when = report_schedule("boston-2017", _races("boston-2017", date(2017, 4, 17), "America/New_York"))
    assert (when.cron, when.timezone) == ("0 6 18 4 *", "America/New_York")


def test_the_morning_after_rolls_over_month_and_year():
    assert report_schedule("x-2021", _races("x-2021", date(2021, 10, 31), "Europe/Berlin")).cron == "0 6 1 11 *"
    assert report_schedule("y-2021", _races("y-2021", date(2021, 12, 31), "Asia/Tokyo")).cron == "0 6 1 1 *"


def test_hour_is_configurable_and_checked():
    races = _races("boston-2018", date(2018, 4, 16), "America/New_York")
    assert report_schedule("boston-2018", races, hour_local=7, minute_local=30).cron == "30 7 17 4 *"
    with pytest.raises(ValueError, match="25:00 is not a time of day"):
        report_schedule("boston-2018", races, hour_local=25)


def test_a_race_not_yet_imported_falls_back_to_daily():
    when = report_schedule("boston-2019", None)
    assert (when.cron, when.timezone) == ("0 6 * * *", "UTC") and "not imported" in when.description


def test_the_deployment_takes_its_schedule_from_the_settings(boston_2017, monkeypatch):
    from racecramp.config import load_settings
    from racecramp.orchestration import report_flow

    monkeypatch.setenv("RACECRAMP_REPORT_HOUR_LOCAL", "7")
    monkeypatch.setenv("RACECRAMP_REPORT_MINUTE_LOCAL", "15")
    settings = load_settings()
    deployment = report_flow.build_report_deployment(settings)
    schedule = deployment.schedules[0].schedule
    assert (schedule.cron, schedule.timezone) == ("15 7 18 4 *", "America/New_York")
