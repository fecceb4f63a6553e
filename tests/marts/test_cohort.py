"""Survey-cohort rate ratios: km at risk, the event stretch, and the Poisson estimates."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from racecramp.marts.cohort import cohort_rate_ratios, cohort_stretches

T0 = datetime(2017, 4, 17, 14, 0, tzinfo=UTC)
UTC_US = pl.Datetime("us", "UTC")


def _segments(bib: str, splits_km: list[float], pace_s_per_km: list[float], declared_pace: float) -> pl.DataFrame:
    rows, net, km_prev = [], 0.0, 0.0
    for km, pace in zip(splits_km, pace_s_per_km):
        entered = T0 + timedelta(seconds=net)
        net += (km - km_prev) * pace
        rows.append(
            {
                "race_id": "r", "bib": bib, "from_km": km_prev, "to_km": km, "entered_at_utc": entered,
                "left_at_utc": T0 + timedelta(seconds=net), "net_time_s": net, "segment_pace_s_per_km": pace,
                "pace_so_far_s_per_km": net / km, "declared_pace_s_per_km": declared_pace, "simulated": True,
            }
        )
        km_prev = km
    return pl.DataFrame(rows, schema_overrides={"entered_at_utc": UTC_US, "left_at_utc": UTC_US})


def _weather(wbgt_c: float) -> pl.DataFrame:
    """The same WBGT every 30 minutes for five hours."""
    n = 11
    return pl.DataFrame(
        {"race_id": ["r"] * n, "source": ["x"] * n, "location": ["x"] * n,
         "observed_at_utc": [T0 + timedelta(minutes=30 * i) for i in range(n)],
         "wbgt_c": [wbgt_c] * n, "interpolated": [False] * n, "simulated": [False] * n},
        schema_overrides={"observed_at_utc": UTC_US},
    )


def _survey(rows: list[tuple[str, bool, float | None, bool]]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"race_id": "r", "bib": b, "cramped": c, "onset_km": o, "prior_cramps": p, "electrolyte_drinks": False, "simulated": True}
         for b, c, o, p in rows]
    )


def test_a_cramper_is_at_risk_up_to_the_onset_and_a_non_cramper_to_the_finish():
    splits = [5.0, 10.0, 20.0, 30.0, 35.0, 42.195]
    segments = pl.concat([
        _segments("1", splits, [300.0] * 6, declared_pace=300.0),
        _segments("2", splits, [270.0, 300, 300, 300, 300, 300], declared_pace=300.0),
    ])
    out = cohort_stretches(_survey([("1", True, 32.5, True), ("2", False, None, False)]), segments, _weather(12.0)).collect()
    one = out.filter(pl.col("bib") == "1").sort("from_km")
    # at risk 0-5, 5-10, 10-20, 20-30 and 30-32.5 (the onset stretch); nothing after it
    assert one["km_at_risk"].to_list() == pytest.approx([5.0, 5.0, 10.0, 10.0, 2.5])
    assert one["event"].to_list() == [0, 0, 0, 0, 1]
    # by each stretch's mid km: 10-20 (mid 15) is early, 20-30 (mid 25) falls in 25-30
    assert one["km_band"].to_list() == ["early", "early", "early", "25-30", "30-35"]
    assert one["heat_band"].unique().to_list() == ["cool"]
    two = out.filter(pl.col("bib") == "2").sort("from_km")
    assert two["km_at_risk"].sum() == pytest.approx(42.195) and two["event"].sum() == 0
    # runner 2 went out at 270 s/km against a declared 300 (0.9 < 0.95): the first stretch is fast,
    # and so is the second, whose start pace is the pace so far at 5 km; at 10 km the pace so
    # far is 285 = 0.95 x 300, not below the cut
    assert two["fast"].to_list()[:3] == [True, True, False]
    assert two["fast"].to_list()[-1] is False  # 270 for 5 km then 300: 298.8/300 at 35 km is on pace


def test_a_late_stretch_much_slower_than_the_runners_own_5_to_20_km_pace_is_a_collapse():
    splits = [5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 42.195]
    paces = [300.0, 300.0, 300.0, 300.0, 310.0, 320.0, 400.0, 420.0, 420.0]
    out = cohort_stretches(_survey([("1", False, None, False)]), _segments("1", splits, paces, 300.0), _weather(10.0)).collect()
    # 400 > 1.25 x 300 from the 30-35 stretch on; 320 is not
    assert out.sort("from_km")["collapsed"].to_list() == [False] * 6 + [True] * 3


def _stretch(bib: str, km: float, event: int, prior: bool, electrolyte: bool = False) -> dict:
    return {"race_id": "r", "bib": bib, "km_at_risk": km, "event": event, "km_band": "early", "heat_band": "cool",
            "fast": False, "collapsed": False, "prior_cramps": prior, "electrolyte_drinks": electrolyte, "simulated": True}


def test_with_one_factor_the_rate_ratio_is_the_ratio_of_rates_with_its_wald_ci():
    # history: 30 first cramps in 1000 km at risk; none: 10 in 2000 km -> (30/1000) / (10/2000) = 6
    rows = [_stretch(f"p{i}", 10.0, 1, True) for i in range(30)] + [_stretch("p-rest", 700.0, 0, True)]
    rows += [_stretch(f"n{i}", 10.0, 1, False) for i in range(10)] + [_stretch("n-rest", 1900.0, 0, False)]
    out = cohort_rate_ratios(pl.DataFrame(rows))
    assert out["term"].to_list() == ["prior_cramps_vs_none"]  # the other factors do not vary: no term
    row = out.row(0, named=True)
    half_width = 1.959964 * math.sqrt(1 / 30 + 1 / 10)
    assert row["rate_ratio"] == pytest.approx(6.0, rel=1e-6)
    assert row["ci_low"] == pytest.approx(6.0 * math.exp(-half_width), rel=1e-4)
    assert row["ci_high"] == pytest.approx(6.0 * math.exp(half_width), rel=1e-4)
    assert (row["events"], row["km_at_risk"], row["respondents"]) == (30, 1000.0, 42)
    assert row["simulated"] is True


def test_a_factor_with_no_effect_has_a_rate_ratio_of_one_when_rates_are_equal():
    rows = [_stretch(f"e{i}", 100.0, 1, i % 2 == 0, electrolyte=True) for i in range(20)]
    rows += [_stretch(f"x{i}", 100.0, 1, i % 2 == 0, electrolyte=False) for i in range(20)]
    out = cohort_rate_ratios(pl.DataFrame(rows)).filter(pl.col("term") == "electrolyte_drinks_vs_none").row(0, named=True)
    assert out["rate_ratio"] == pytest.approx(1.0, abs=1e-9)
    assert out["ci_low"] < 1.0 < out["ci_high"]


def test_no_event_gives_an_empty_answer_not_a_fit():
    out = cohort_rate_ratios(pl.DataFrame([_stretch("a", 42.195, 0, True), _stretch("b", 42.195, 0, False)]))
    assert out.height == 0 and "rate_ratio" in out.columns
