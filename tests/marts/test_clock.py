"""The race clock shared by the marts and the dashboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from racecramp.marts.build import race_clock as marts_race_clock
from racecramp.marts.clock import race_clock

T = pl.Datetime("us", "UTC")
GUN = datetime(2017, 4, 17, 14, 0, tzinfo=UTC)


def test_the_marts_and_the_dashboard_read_the_same_clock_and_each_race_has_its_own():
    passings = pl.DataFrame({"race_id": ["a", "a", "b"], "passed_at_utc": [GUN, GUN + timedelta(minutes=50),
                                                                            GUN + timedelta(days=365)]},
                            schema={"race_id": pl.String, "passed_at_utc": T})
    reports = pl.DataFrame({"race_id": ["a"], "reported_at_utc": [GUN + timedelta(minutes=55)]},
                           schema={"race_id": pl.String, "reported_at_utc": T})
    wall = GUN + timedelta(days=3000)
    inputs = {"passings": passings, "cramp_reports": reports}
    # race a: its latest event is the report at 14:55; race b's passing a year later does not move it
    assert marts_race_clock(inputs, "a", wall) == GUN + timedelta(minutes=55)
    assert race_clock(reports, passings.filter(pl.col("race_id") == "a"), wall) == GUN + timedelta(minutes=55)
    # race b has no report; a wall clock earlier than its data caps it
    assert marts_race_clock(inputs, "b", GUN + timedelta(days=1)) == GUN + timedelta(days=1)
    assert marts_race_clock(inputs, "c", wall) is None
