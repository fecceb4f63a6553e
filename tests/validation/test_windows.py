"""Time windows: an event must lie in its race's window and not after the receiver's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from racecramp.sources.race import read_race
from racecramp.validation.windows import FUTURE, WindowRules, race_windows, window_failures

from paths import DATA

UTC_DT = pl.Datetime("us", "UTC")
RECEIVED = datetime(2017, 4, 17, 18, 0, tzinfo=UTC)


def _boston():
    races, _ = read_race(DATA / "races" / "boston-2017.toml")
    return race_windows(races)


def _frame(column: str, times: list[datetime | None], race_id: str | None = "boston-2017") -> pl.DataFrame:
    return pl.DataFrame({"_row": list(range(len(times))), "race_id": [race_id] * len(times), column: times},
                        schema={"_row": pl.Int64, "race_id": pl.String, column: UTC_DT})


def test_boston_2017_window_runs_from_three_hours_before_the_first_wave_to_six_after_the_course_closes():
    (window,) = _boston().to_dicts()
    # first wave 09:32 EDT = 13:32 UTC; the course closes 8 h after the last wave (11:25 EDT), 23:25 UTC
    assert window["window_start_utc"] == datetime(2017, 4, 17, 10, 32, tzinfo=UTC)
    assert window["window_end_utc"] == datetime(2017, 4, 18, 5, 25, tzinfo=UTC)
    assert window["weather_start_utc"] == window["window_start_utc"] - timedelta(hours=12)
    assert window["survey_end_utc"] == datetime(2017, 4, 17, 23, 25, tzinfo=UTC) + timedelta(days=30)


def test_a_year_typo_is_outside_the_window_and_the_reason_names_the_window_in_local_time():
    frame = _frame("reported_at_utc", [datetime(2017, 4, 17, 17, 5, tzinfo=UTC), datetime(2071, 4, 17, 17, 5, tzinfo=UTC),
                                       datetime(2016, 4, 17, 17, 5, tzinfo=UTC), None])
    failures = window_failures(frame, "reports", _boston(), datetime(2071, 5, 1, tzinfo=UTC))
    assert failures["_row"].to_list() == [1, 2]
    reason = failures["reason"][0]
    assert "outside boston-2017's window" in reason
    assert "2017-04-17 06:32" in reason and "America/New_York" in reason and "10:32" in reason  # local, then UTC


def test_an_event_ahead_of_the_receivers_clock_by_more_than_the_skew_is_refused():
    frame = _frame("reported_at_utc", [RECEIVED + timedelta(minutes=4), RECEIVED + timedelta(minutes=6)])
    failures = window_failures(frame, "reports", _boston(), RECEIVED, WindowRules(clock_skew_s=300))
    assert failures.select("_row", "check").rows() == [(1, FUTURE)]
    assert "6 min after the receiver's clock" in failures["reason"][0]


def test_batches_validated_together_keep_each_records_own_landing_time():
    # two batches merged together: landed 10 min apart; the same event time is 6 min ahead of the
    # first one's clock (refused with a 5-min skew) and behind the second one's (accepted)
    event = RECEIVED + timedelta(minutes=6)
    frame = _frame("reported_at_utc", [event, event])
    received = pl.Series([RECEIVED, RECEIVED + timedelta(minutes=10)], dtype=UTC_DT)
    failures = window_failures(frame, "reports", _boston(), received, WindowRules(clock_skew_s=300))
    assert failures.select("_row", "check").rows() == [(0, FUTURE)]
    assert "6 min after the receiver's clock (2017-04-17 18:00 UTC)" in failures["reason"][0]


def test_weather_gets_a_wider_window_and_weather_without_a_race_must_be_near_some_race():
    evening_before = datetime(2017, 4, 16, 23, 0, tzinfo=UTC)  # 19:00 EDT the day before: inside the 12-h margin
    labelled = window_failures(_frame("observed_at_utc", [evening_before]), "weather", _boston(), RECEIVED)
    assert labelled.height == 0
    unlabelled = _frame("observed_at_utc", [evening_before, datetime(2019, 1, 1, tzinfo=UTC)], race_id=None)
    failures = window_failures(unlabelled, "weather", _boston(), datetime(2026, 1, 1, tzinfo=UTC))
    assert failures["_row"].to_list() == [1] and "every known race" in failures["reason"][0]


def test_survey_answers_may_come_for_a_month_after_the_course_closes():
    answered = [datetime(2017, 5, 1, tzinfo=UTC), datetime(2017, 6, 1, tzinfo=UTC)]
    failures = window_failures(_frame("answered_at_utc", answered), "survey", _boston(), datetime(2018, 1, 1, tzinfo=UTC))
    assert failures["_row"].to_list() == [1]


def test_kinds_without_an_event_time_or_the_rule_are_not_checked():
    frame = pl.DataFrame({"_row": [0], "race_id": ["boston-2017"]})
    assert window_failures(frame, "participants", _boston(), RECEIVED).height == 0
    at = _frame("at_utc", [datetime(2026, 12, 1, tzinfo=UTC)], race_id=None).drop("race_id")
    assert window_failures(at, "alert_actions", _boston(), datetime(2026, 12, 1, tzinfo=UTC)).height == 0
