"""Alert rules (station load, weather flag, stale weather, quarantine) and the alert lifecycle."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from racecramp.marts.alerts import ACTION_SCHEMA, AlertParams, apply_alert_actions, evaluate_alerts, merge_alerts, station_load

UTC = pl.Datetime("us", "UTC")
RACE = "boston-2017"
GUN = datetime(2017, 4, 17, 14, 0, tzinfo=timezone.utc)
NOW = datetime(2017, 4, 17, 17, 30, tzinfo=timezone.utc)

COURSE = pl.DataFrame(
    {
        "race_id": [RACE] * 6,
        "point_id": ["mat-35k", "aid-22mi", "aid-23mi", "mat-40k", "finish", "med-finish"],
        "kind": ["timing_mat", "aid_station", "aid_station", "timing_mat", "finish", "medical_tent"],
        "km": [35.0, 35.4, 37.0, 40.0, 42.195, 42.195],
        "label": ["35K", "Aid 22 mi", "Aid 23 mi", "40K", "Finish", "Finish tent"],
    }
)
# Hazard at Aid 23 mi (catchment 35.4 to 37.0 km, all on the plateau of the distance shape):
# 6.5 per 1000 starters × (1 − 0.416 finish share) × 1.6 km / 12.795 km of weighted course.
PER_RUNNER_AID_23MI = 0.0065 * (1 - 0.416) * 1.6 / 12.795

REPORT_SCHEMA = {
    "report_id": pl.String, "race_id": pl.String, "source": pl.String, "simulated": pl.Boolean,
    "point_id": pl.String, "km": pl.Float64, "bib": pl.String, "reported_at_utc": UTC, "disposition": pl.String,
}
EXPOSURE_SCHEMA = {
    "race_id": pl.String, "point_id": pl.String, "bib": pl.String, "passed_at_utc": UTC,
    "relative_pace": pl.Float64, "simulated": pl.Boolean,
}
WEATHER_SCHEMA = {
    "source": pl.String, "location": pl.String, "race_id": pl.String, "observed_at_utc": UTC, "wbgt_c": pl.Float64,
    "wbgt_flag": pl.String, "interpolated": pl.Boolean, "simulated": pl.Boolean,
}
QUARANTINE_SCHEMA = {"landed_at_utc": UTC, "source": pl.String, "record": pl.String, "check": pl.String,
                     "batch_id": pl.String}
LANDED_SCHEMA = {"batch_id": pl.String, "landed_at_utc": UTC, "record_count": pl.Int64}


def reports(n: int, point_id: str = "aid-23mi", minutes_ago: float = 5, source: str = "aid_station") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "report_id": [f"{point_id}-{minutes_ago}-{i}" for i in range(n)], "race_id": [RACE] * n,
            "source": [source] * n, "simulated": [False] * n, "point_id": [point_id] * n,
            "km": [37.0] * n, "bib": [str(9000 + i) for i in range(n)],
            "reported_at_utc": [NOW - timedelta(minutes=minutes_ago)] * n, "disposition": ["returned_to_race"] * n,
        },
        schema=REPORT_SCHEMA,
    )


def exposure(n: int, point_id: str = "aid-23mi", relative_pace: float = 1.0, minutes_ago: float = 0) -> pl.DataFrame:
    """n runners passing the station, one per second, ending `minutes_ago` before NOW."""
    end = NOW - timedelta(minutes=minutes_ago)
    return pl.DataFrame(
        {
            "race_id": [RACE] * n, "point_id": [point_id] * n, "bib": [str(i) for i in range(n)],
            "passed_at_utc": [end - timedelta(seconds=i + 1) for i in range(n)],
            "relative_pace": [relative_pace] * n, "simulated": [False] * n,
        },
        schema=EXPOSURE_SCHEMA,
    )


def weather(rows: list[tuple[float, float, str]], source: str = "iem-asos:KBOS", interpolated: bool = False) -> pl.DataFrame:
    """rows of (minutes before NOW, wbgt_c, flag)."""
    return pl.DataFrame(
        {
            "source": [source] * len(rows), "location": ["KBOS"] * len(rows), "race_id": [RACE] * len(rows),
            "observed_at_utc": [NOW - timedelta(minutes=r[0]) for r in rows], "wbgt_c": [r[1] for r in rows],
            "wbgt_flag": [r[2] for r in rows], "interpolated": [interpolated] * len(rows),
            "simulated": [False] * len(rows),
        },
        schema=WEATHER_SCHEMA,
    )


FRESH_COOL_WEATHER = weather([(20, 12.0, "green"), (10, 12.0, "green")])
NO_QUARANTINE = pl.DataFrame(schema=QUARANTINE_SCHEMA)


def evaluate(rep=None, exp=None, wx=FRESH_COOL_WEATHER, quarantine=NO_QUARANTINE, previous=None, now=NOW,
             params=AlertParams(), **kw):
    return evaluate_alerts(
        now,
        rep if rep is not None else pl.DataFrame(schema=REPORT_SCHEMA),
        exp if exp is not None else pl.DataFrame(schema=EXPOSURE_SCHEMA),
        wx,
        quarantine,
        previous,
        params,
        race_id=RACE,
        course_points=COURSE,
        **kw,
    )


def poisson_at_least(k: int, mu: float) -> float:
    """P(X >= k) for X ~ Poisson(mu), by the closed form."""
    return 1 - math.exp(-mu) * sum(mu**i / math.factorial(i) for i in range(k))


# ---------------------------------------------------------------- station_load


def test_station_with_more_reports_than_expected_alerts():
    out = evaluate(reports(4), exposure(1000))
    mu = 1000 * PER_RUNNER_AID_23MI  # 0.4747
    p = poisson_at_least(4, mu)  # 0.0014
    assert out["rule"].to_list() == ["station_load"]
    alert = out.row(0, named=True)
    assert alert["subject"] == "aid-23mi"
    assert alert["observed"] == 4
    assert alert["expected"] == pytest.approx(mu)
    assert alert["p_value"] == pytest.approx(p, rel=1e-6)
    assert alert["severity"] == "warning"  # 0.001 <= p < 0.01
    assert alert["status"] == "open" and alert["opened_at_utc"] == NOW
    assert alert["message"] == f"Aid 23 mi (37.0 km): 4 cramp reports in 30 min, expected 0.5 from the 1,000 runners who passed (p={p:.4f})"


def test_station_load_within_expectation_does_not_alert():
    # 10,000 runners: expected 4.7, so 4 reports are ordinary
    assert evaluate(reports(4), exposure(10_000)).is_empty()


def test_fewer_than_three_reports_never_alert_even_if_improbable():
    load = station_load(NOW, reports(2), exposure(20), FRESH_COOL_WEATHER, race_id=RACE, course_points=COURSE)
    aid = load.filter(pl.col("point_id") == "aid-23mi").row(0, named=True)
    assert aid["p_value"] < 0.01
    assert aid["fires"] is False
    assert evaluate(reports(2), exposure(20)).is_empty()


def test_heat_raises_the_expectation_so_the_same_reports_do_not_alert():
    hot = weather([(20, 25.0, "red"), (10, 25.0, "red")])
    # Roberts 2010: U(25)/U(15) = 197.751 / 73.121 = 2.7044; expected 1.284, P(X>=4) = 0.041
    load = station_load(NOW, reports(4), exposure(1000), hot, race_id=RACE, course_points=COURSE)
    aid = load.filter(pl.col("point_id") == "aid-23mi").row(0, named=True)
    assert aid["expected"] == pytest.approx(1000 * PER_RUNNER_AID_23MI * 197.751 / 73.121, rel=1e-4)
    assert aid["fires"] is False


def test_runners_faster_than_declared_raise_the_expectation():
    load = station_load(NOW, reports(1), exposure(1000, relative_pace=0.9), FRESH_COOL_WEATHER,
                        race_id=RACE, course_points=COURSE)
    aid = load.filter(pl.col("point_id") == "aid-23mi").row(0, named=True)
    assert aid["expected"] == pytest.approx(1000 * PER_RUNNER_AID_23MI * 1.75)
    assert aid["runners_passed"] == 1000


def test_reports_and_passings_older_than_30_minutes_are_not_counted():
    out = station_load(NOW, reports(5, minutes_ago=31), exposure(100, minutes_ago=31), FRESH_COOL_WEATHER,
                       race_id=RACE, course_points=COURSE)
    aid = out.filter(pl.col("point_id") == "aid-23mi").row(0, named=True)
    assert (aid["observed"], aid["expected"], aid["p_value"]) == (0, 0.0, 1.0)


def test_survey_answers_are_not_station_reports():
    assert evaluate(reports(6, source="survey"), exposure(1000)).is_empty()


def test_relative_pace_is_computed_from_participants_when_exposure_lacks_it():
    exp = exposure(1000).drop("relative_pace").with_columns(km=pl.lit(37.0), net_time_s=pl.lit(37.0 * 270))
    people = pl.DataFrame({"race_id": [RACE] * 1000, "bib": [str(i) for i in range(1000)],
                           "declared_finish_s": [42.195 * 300] * 1000})  # 270 vs 300 s/km: relative pace 0.9
    load = station_load(NOW, reports(1), exp, FRESH_COOL_WEATHER, race_id=RACE, course_points=COURSE,
                        participants=people)
    assert load.filter(pl.col("point_id") == "aid-23mi")["expected"].item() == pytest.approx(
        1000 * PER_RUNNER_AID_23MI * 1.75
    )
    with pytest.raises(ValueError, match="relative_pace"):
        station_load(NOW, reports(1), exp, FRESH_COOL_WEATHER, race_id=RACE, course_points=COURSE)


# ---------------------------------------------------------------- weather


def test_flag_change_alerts_with_from_and_to():
    out = evaluate(wx=weather([(20, 17.5, "green"), (10, 18.4, "yellow")]))
    assert out["rule"].to_list() == ["weather_flag_change"]
    alert = out.row(0, named=True)
    assert "green → yellow" in alert["message"]
    assert alert["severity"] == "warning"
    assert alert["observed"] == pytest.approx(18.4)


def test_change_to_red_is_critical():
    out = evaluate(wx=weather([(20, 22.5, "yellow"), (10, 23.1, "red")]))
    assert out.select("rule", "severity").rows() == [("weather_flag_change", "critical")]


def test_same_flag_does_not_alert():
    assert evaluate(wx=weather([(20, 17.0, "green"), (10, 17.5, "green")])).is_empty()


def test_a_lower_priority_feed_is_not_compared_with_the_preferred_one():
    # the model feed says yellow, the airport station green: the station is the feed shown, no change
    mixed = pl.concat([weather([(20, 18.5, "yellow")], source="open-meteo"), weather([(25, 17.0, "green"), (10, 17.2, "green")])])
    assert evaluate(wx=mixed).is_empty()


def test_stale_weather_alerts():
    out = evaluate(wx=weather([(140, 12.0, "green"), (80, 12.0, "green")]))
    assert out["rule"].to_list() == ["stale_weather"]
    assert out["observed"].item() == pytest.approx(80 * 60)
    assert "80 min old (limit 75 min)" in out["message"].item()


def test_fresh_weather_is_not_stale():
    # an hourly feed's reading is up to an hour old in normal running
    assert evaluate(wx=weather([(74, 12.0, "green")])).is_empty()


def test_an_interpolated_value_is_not_a_fresh_observation():
    wx = pl.concat([weather([(80, 12.0, "green")]), weather([(5, 12.0, "green")], interpolated=True)])
    assert evaluate(wx=wx)["rule"].to_list() == ["stale_weather"]


def test_no_weather_at_all_during_the_race_alerts_when_a_feed_is_configured_but_not_before_the_start():
    empty = pl.DataFrame(schema=WEATHER_SCHEMA)
    configured = AlertParams(weather_configured=True)
    during = evaluate(wx=empty, race_start_utc=GUN, params=configured)
    assert during["rule"].to_list() == ["stale_weather"]
    assert "No weather observation" in during["message"].item()
    assert evaluate(wx=empty, race_start_utc=NOW + timedelta(hours=1), params=configured).is_empty()


def test_a_race_with_no_weather_feed_configured_or_reported_never_has_stale_weather():
    # a bulk import of results: the race clock is the last passing, no weather has come, no feed is configured
    assert evaluate(wx=pl.DataFrame(schema=WEATHER_SCHEMA), race_start_utc=GUN).is_empty()


def test_old_weather_is_not_stale_before_the_race_starts():
    old = weather([(240, 12.0, "green")])  # four hours old at the race clock
    assert evaluate(wx=old, race_start_utc=NOW + timedelta(hours=1)).is_empty()
    assert evaluate(wx=old, race_start_utc=GUN)["rule"].to_list() == ["stale_weather"]


# ---------------------------------------------------------------- quarantine


def quarantine(n: int, minutes_ago: float = 2, checks_per_record: int = 1) -> pl.DataFrame:
    rows = [(NOW - timedelta(minutes=minutes_ago), "results:marathon_results_2017.csv", f'{{"row": {i}}}', f"check{c}", "b1")
            for i in range(n) for c in range(checks_per_record)]
    return pl.DataFrame(rows, schema=QUARANTINE_SCHEMA, orient="row")


def landed(count: int) -> pl.DataFrame:
    return pl.DataFrame({"batch_id": ["b1"], "landed_at_utc": [NOW - timedelta(minutes=2)], "record_count": [count]},
                        schema=LANDED_SCHEMA)


def test_more_than_twenty_quarantined_records_in_ten_minutes_alerts():
    out = evaluate(quarantine=quarantine(21))
    assert out.select("rule", "subject", "observed").rows() == [("quarantine_spike", "quarantine", 21.0)]
    assert "most from results:marathon_results_2017.csv (21)" in out["message"].item()


def test_twenty_quarantined_records_or_old_ones_do_not_alert():
    assert evaluate(quarantine=quarantine(20)).is_empty()
    assert evaluate(quarantine=quarantine(30, minutes_ago=11)).is_empty()


def test_a_record_failing_several_checks_counts_once():
    assert evaluate(quarantine=quarantine(15, checks_per_record=2)).is_empty()


def test_quarantined_share_above_ten_percent_alerts():
    out = evaluate(quarantine=quarantine(4), landed=landed(30))  # 13%
    assert out["rule"].to_list() == ["quarantine_spike"]
    assert "13% of 30 landed" in out["message"].item()


def test_share_at_or_below_ten_percent_or_under_three_records_does_not_alert():
    assert evaluate(quarantine=quarantine(3), landed=landed(40)).is_empty()  # 7.5%
    assert evaluate(quarantine=quarantine(2), landed=landed(5)).is_empty()  # 40% but only 2 records


# ---------------------------------------------------------------- re-evaluation and merge


def test_re_evaluating_at_the_same_time_gives_the_same_alert_ids():
    first = evaluate(reports(4), exposure(1000))
    again = evaluate(reports(4), exposure(1000))
    assert first["alert_id"].to_list() == again["alert_id"].to_list()
    merged = merge_alerts(merge_alerts(None, first), again)
    assert merged.height == 1


def test_an_open_condition_alert_is_not_opened_again_while_unresolved():
    log = merge_alerts(None, evaluate(reports(4), exposure(1000)))
    later = NOW + timedelta(minutes=5)
    again = evaluate(reports(4), exposure(1000), previous=log, now=later)
    assert again["alert_id"].to_list() == log["alert_id"].to_list()  # the same alert, not a new one
    assert again["cleared_at_utc"].to_list() == [None]  # its condition still holds
    resolved, _ = apply_alert_actions(log, actions([(log["alert_id"].item(), "resolve", "dr.lee", 3)]))
    reopened = evaluate(reports(4), exposure(1000), previous=resolved, now=later)
    assert reopened["rule"].to_list() == ["station_load"]
    assert reopened["alert_id"].item() != log["alert_id"].item()


def test_a_cleared_condition_stays_open_until_resolved():
    log = merge_alerts(None, evaluate(reports(4), exposure(1000)))
    # 40 min later: no reports, no runners, fresh weather (observed 30 min after NOW)
    cleared_at = NOW + timedelta(minutes=40)
    quiet = evaluate(now=cleared_at, wx=weather([(-30, 12.0, "green")]), previous=log)
    assert quiet["alert_id"].to_list() == log["alert_id"].to_list()  # nothing new opens
    merged = merge_alerts(log, quiet)
    assert merged["status"].to_list() == ["open"]
    assert merged["cleared_at_utc"].to_list() == [cleared_at]
    # a later look keeps the first time it cleared; a return of the condition clears it again
    later = merge_alerts(merged, evaluate(now=cleared_at + timedelta(minutes=5), wx=weather([(-30, 12.0, "green")]),
                                          previous=merged))
    assert later["cleared_at_utc"].to_list() == [cleared_at]
    back = merge_alerts(later, evaluate(reports(4), exposure(1000), previous=later, now=NOW + timedelta(minutes=5)))
    assert back["cleared_at_utc"].to_list() == [None]


def test_merge_keeps_lifecycle_state_of_existing_alerts():
    first = evaluate(reports(4), exposure(1000))
    acked, _ = apply_alert_actions(merge_alerts(None, first), actions([(first["alert_id"].item(), "acknowledge", "amy", 1)]))
    flag = evaluate(wx=weather([(20, 17.5, "green"), (10, 18.4, "yellow")]))
    merged = merge_alerts(acked, pl.concat([first, flag]))
    assert merged.sort("rule").select("rule", "status").rows() == [("station_load", "acknowledged"), ("weather_flag_change", "open")]


# ---------------------------------------------------------------- lifecycle


def actions(rows: list[tuple[str, str, str | None, float]]) -> pl.DataFrame:
    """rows of (alert_id, action, by, minutes after NOW)."""
    return pl.DataFrame(
        [(a, act, by, NOW + timedelta(minutes=m)) for a, act, by, m in rows], schema=ACTION_SCHEMA, orient="row"
    )


@pytest.fixture
def log() -> pl.DataFrame:
    return merge_alerts(
        None,
        pl.concat([evaluate(reports(4), exposure(1000)), evaluate(wx=weather([(20, 17.5, "green"), (10, 18.4, "yellow")]))]),
    )


def ids(log: pl.DataFrame) -> tuple[str, str]:
    return tuple(log.sort("rule")["alert_id"].to_list())  # (station_load, weather_flag_change)


def test_acknowledge_then_resolve(log):
    load_id, _ = ids(log)
    out, rejected = apply_alert_actions(log, actions([(load_id, "acknowledge", "amy", 1), (load_id, "resolve", "dr.lee", 9)]))
    row = out.filter(pl.col("alert_id") == load_id).row(0, named=True)
    assert rejected.is_empty()
    assert (row["status"], row["acknowledged_by"], row["resolved_by"]) == ("resolved", "amy", "dr.lee")
    assert row["acknowledged_at_utc"] == NOW + timedelta(minutes=1)
    assert row["resolved_at_utc"] == NOW + timedelta(minutes=9)


def test_resolve_straight_from_open_leaves_other_alerts_alone(log):
    load_id, flag_id = ids(log)
    out, rejected = apply_alert_actions(log, actions([(flag_id, "resolve", "amy", 2)]))
    assert rejected.is_empty()
    assert dict(out.select("alert_id", "status").rows()) == {load_id: "open", flag_id: "resolved"}


def test_actions_are_applied_in_time_order(log):
    load_id, _ = ids(log)
    # the resolve happened first, so the later acknowledge hits a resolved alert
    out, rejected = apply_alert_actions(log, actions([(load_id, "acknowledge", "amy", 5), (load_id, "resolve", "bo", 1)]))
    assert out.filter(pl.col("alert_id") == load_id)["acknowledged_by"].item() is None
    assert rejected.select("action", "by").rows() == [("acknowledge", "amy")]
    assert "resolved by bo" in rejected["reason"].item()


def test_rejected_actions_say_why(log):
    load_id, flag_id = ids(log)
    out, rejected = apply_alert_actions(
        log,
        actions([
            ("no-such-alert", "acknowledge", "amy", 1),
            (load_id, "escalate", "amy", 2),
            (load_id, "acknowledge", None, 3),
            (flag_id, "resolve", "amy", 4),
            (flag_id, "acknowledge", "bo", 5),
            (flag_id, "resolve", "bo", 6),
        ]),
    )
    reasons = rejected["reason"].to_list()
    assert len(reasons) == 5
    assert "'no-such-alert' is not a known alert" in reasons[0]
    assert "'escalate' is not one of" in reasons[1]
    assert "by is empty" in reasons[2]
    assert "resolved by amy" in reasons[3] and "resolved by amy" in reasons[4]
    assert out.filter(pl.col("alert_id") == load_id)["status"].item() == "open"
    assert out.filter(pl.col("alert_id") == flag_id)["resolved_by"].item() == "amy"


def test_repeating_actions_changes_nothing(log):
    load_id, flag_id = ids(log)
    acts = actions([(load_id, "acknowledge", "amy", 1), (flag_id, "resolve", "amy", 2)])
    once, rejected_once = apply_alert_actions(log, acts)
    twice, rejected_twice = apply_alert_actions(once, acts)
    assert rejected_once.is_empty() and rejected_twice.is_empty()
    assert twice.equals(once)
    # a retry with a later timestamp keeps the first time
    retry, _ = apply_alert_actions(once, actions([(load_id, "acknowledge", "amy", 7)]))
    assert retry.equals(once)


def test_second_acknowledgement_by_someone_else_is_rejected(log):
    load_id, _ = ids(log)
    out, rejected = apply_alert_actions(log, actions([(load_id, "acknowledge", "amy", 1), (load_id, "acknowledge", "bo", 2)]))
    assert out.filter(pl.col("alert_id") == load_id)["acknowledged_by"].item() == "amy"
    assert "already acknowledged by amy" in rejected["reason"].item()
