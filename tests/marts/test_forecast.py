"""Station forecast: arrivals and expected cramp presentations in the next 30 and 60 minutes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from racecramp.marts.forecast import station_forecast
from racecramp.marts.hazard import HazardParams

UTC = pl.Datetime("us", "UTC")
GUN = datetime(2017, 4, 17, 14, 0, tzinfo=timezone.utc)
NOW = GUN + timedelta(seconds=7200)
RACE = "boston-2017"
# One presentation per baseline runner over the race, so the numbers are readable by hand.
PARAMS = HazardParams(presentations_per_1000_starters=1000.0)

COURSE = pl.DataFrame(
    {
        "race_id": [RACE] * 7,
        "point_id": ["mat-10k", "mat-20k", "aid-25k", "mat-30k", "aid-35k", "finish", "med-finish"],
        "kind": ["timing_mat", "timing_mat", "aid_station", "timing_mat", "aid_station", "finish", "medical_tent"],
        "km": [10.0, 20.0, 25.0, 30.0, 35.0, 42.195, 42.195],
        "label": ["10K", "20K", "Aid 25 km", "30K", "Aid 35 km", "Finish", "Finish tent"],
    }
)
KM = dict(zip(COURSE["point_id"], COURSE["km"]))
PASSING_SCHEMA = {
    "race_id": pl.String, "bib": pl.String, "point_id": pl.String, "km": pl.Float64,
    "net_time_s": pl.Float64, "passed_at_utc": UTC, "simulated": pl.Boolean,
}
PARTICIPANT_SCHEMA = {
    "race_id": pl.String, "bib": pl.String, "wave_start_utc": UTC, "declared_finish_s": pl.Float64,
    "finished": pl.Boolean, "simulated": pl.Boolean,
}
WEATHER_SCHEMA = {
    "source": pl.String, "race_id": pl.String, "observed_at_utc": UTC, "wbgt_c": pl.Float64, "wbgt_flag": pl.String,
}

# Roberts 2010 curve U(w) = 0.514 w² − 8.097 w + 78.926: U(20) = 122.586, U(15) = 73.121
HEAT_AT_20_C = 122.586 / 73.121
# Integral of the distance shape (floor 0.02 to 20 km, quadratic ramp to 1 at 35 km, then 1):
W_25 = 0.02 * 25 + 0.98 * 5**3 / (3 * 15**2)  # 0.681481
W_35 = 0.02 * 35 + 0.98 * 15 / 3  # 5.6
W_FINISH = W_35 + (42.195 - 35)  # 12.795
ON_COURSE = 1 - 0.416  # Chicago 2018: 41.6% of presentations at the finish
FAST = 1.75  # Schwellnus 2011 RR for running faster than declared


def passings(rows):
    return pl.DataFrame(
        {
            "race_id": [RACE] * len(rows), "bib": [r[0] for r in rows], "point_id": [r[1] for r in rows],
            "km": [KM[r[1]] for r in rows], "net_time_s": [float(r[2]) for r in rows],
            "passed_at_utc": [GUN + timedelta(seconds=r[2]) for r in rows], "simulated": [False] * len(rows),
        },
        schema=PASSING_SCHEMA,
    )


def participants(rows):
    """rows of (bib, wave start offset s, declared finish s or None)."""
    return pl.DataFrame(
        {
            "race_id": [RACE] * len(rows), "bib": [r[0] for r in rows],
            "wave_start_utc": [GUN + timedelta(seconds=r[1]) for r in rows],
            "declared_finish_s": [r[2] for r in rows], "finished": [False] * len(rows),
            "simulated": [False] * len(rows),
        },
        schema=PARTICIPANT_SCHEMA,
    )


WEATHER = pl.DataFrame(
    {
        "source": ["iem-asos:KBOS"] * 3,
        "race_id": [RACE] * 3,
        "observed_at_utc": [GUN + timedelta(seconds=3000), GUN + timedelta(seconds=7000), GUN + timedelta(seconds=8000)],
        "wbgt_c": [10.0, 20.0, 30.0],  # the 30 °C reading comes after NOW and must not be used
        "wbgt_flag": ["green", "yellow", "black"],
    },
    schema=WEATHER_SCHEMA,
)


@pytest.fixture
def forecast() -> pl.DataFrame:
    field = passings(
        [
            # A: 300 s/km, faster than declared 14400 s (341 s/km): relative pace 0.88
            ("A", "mat-10k", 3000), ("A", "mat-20k", 6000),
            # B: latest segment 250 s/km, declared 10800 s: relative pace 245/256 = 0.957, not fast
            ("B", "mat-10k", 2400), ("B", "mat-20k", 4900),
            # C: 370 s/km from the start, no declared time
            ("C", "mat-10k", 3700),
            # D finished before NOW; E was due at 20K at 4000 s and is 53 min late
            ("D", "mat-10k", 1700), ("D", "mat-20k", 3400), ("D", "mat-30k", 5100), ("D", "finish", 7000),
            ("E", "mat-10k", 2000),
        ]
    )
    people = participants([("A", 0, 14400.0), ("B", 0, 10800.0), ("C", 0, None), ("D", 0, 7000.0), ("E", 0, None)])
    return station_forecast(NOW, field, people, COURSE, WEATHER, PARAMS)


def station(frame, point_id):
    return frame.filter(pl.col("point_id") == point_id).to_dicts()[0]


def test_arrivals_come_from_last_passing_and_latest_segment_pace(forecast):
    # A reaches 25 km at 6000 + 5×300 = 7500 s (+5 min), 35 km at 10500 s (+55 min)
    # B passed 25 km at 6150 s (before NOW); reaches 35 km at 8650 s (+24 min), finish at 10448.75 s (+54 min)
    # C reaches 25 km at 3700 + 15×370 = 9250 s (+34 min)
    got = {p: (station(forecast, p)["arrivals_next_30m"], station(forecast, p)["arrivals_next_60m"])
           for p in ["aid-25k", "aid-35k", "finish", "med-finish"]}
    assert got == {"aid-25k": (1, 2), "aid-35k": (1, 2), "finish": (0, 1), "med-finish": (0, 1)}


def test_expected_cramps_sum_the_per_runner_hazard(forecast):
    aid25 = station(forecast, "aid-25k")
    assert aid25["expected_cramps_next_30m"] == pytest.approx(HEAT_AT_20_C * ON_COURSE * W_25 / W_FINISH * FAST)
    assert aid25["expected_cramps_next_60m"] == pytest.approx(HEAT_AT_20_C * ON_COURSE * W_25 / W_FINISH * (FAST + 1))
    aid35 = station(forecast, "aid-35k")
    assert aid35["expected_cramps_next_30m"] == pytest.approx(HEAT_AT_20_C * ON_COURSE * (W_35 - W_25) / W_FINISH)
    assert aid35["expected_cramps_next_60m"] == pytest.approx(
        HEAT_AT_20_C * ON_COURSE * (W_35 - W_25) / W_FINISH * (1 + FAST)
    )


def test_finish_tent_expects_the_last_stretch_once_plus_the_post_finish_share(forecast):
    finish, tent = station(forecast, "finish"), station(forecast, "med-finish")
    last_stretch = HEAT_AT_20_C * ON_COURSE * (W_FINISH - W_35) / W_FINISH
    # the finish line stands beside the tent: the 35-42.195 km stretch is the tent's, counted once
    assert finish["expected_cramps_next_60m"] == 0.0
    assert tent["expected_cramps_next_60m"] == pytest.approx(last_stretch + HEAT_AT_20_C * 0.416)


def test_interval_is_the_poisson_5th_to_95th_percentile(forecast):
    tent = station(forecast, "med-finish")
    # mean 1.248: P(X=0) = 0.287 >= 0.05, so lo = 0; P(X<=2) = 0.869, P(X<=3) = 0.962, so hi = 3
    assert tent["expected_cramps_next_60m"] == pytest.approx(1.248, abs=1e-3)
    assert (tent["expected_cramps_next_60m_lo"], tent["expected_cramps_next_60m_hi"]) == (0.0, 3.0)
    assert (tent["expected_cramps_next_30m"], tent["expected_cramps_next_30m_lo"], tent["expected_cramps_next_30m_hi"]) == (0.0, 0.0, 0.0)


def test_every_station_is_listed_and_mats_are_not(forecast):
    assert forecast["point_id"].to_list() == ["aid-25k", "aid-35k", "finish", "med-finish"]
    assert forecast["computed_at_utc"].unique().to_list() == [NOW]


def test_finished_and_overdue_runners_are_not_expected():
    # E alone: due at 20K at 4000 s, unseen by 7200 s; it would otherwise reach the finish at 8439 s
    only_e = station_forecast(NOW, passings([("E", "mat-10k", 2000)]), participants([("E", 0, None)]), COURSE, None, PARAMS)
    assert only_e["arrivals_next_60m"].sum() == 0
    only_d = station_forecast(
        NOW, passings([("D", "mat-10k", 1700), ("D", "finish", 7000)]), participants([("D", 0, 7000.0)]), COURSE, None, PARAMS
    )
    assert only_d["arrivals_next_60m"].sum() == 0


def test_started_runner_not_yet_at_a_mat_is_projected_from_the_start_at_declared_pace():
    course = pl.DataFrame(
        {"race_id": [RACE] * 3, "point_id": ["aid-03k", "mat-05k", "finish"],
         "kind": ["aid_station", "timing_mat", "finish"], "km": [3.0, 5.0, 42.195],
         "label": ["Aid 3 km", "5K", "Finish"]}
    )
    # wave started 10 min before NOW; declared 42195 s = 1000 s/km: 3 km at +3000 s from the gun of the wave
    people = participants([("F", 6600, 42195.0)])
    out = station_forecast(NOW, passings([]), people, course, None, PARAMS)
    aid = station(out, "aid-03k")
    assert (aid["arrivals_next_30m"], aid["arrivals_next_60m"]) == (0, 1)
    # no weather: heat multiplier 1; relative pace assumed 1
    assert aid["expected_cramps_next_60m"] == pytest.approx(ON_COURSE * 0.02 * 3 / W_FINISH)


REPORT_SCHEMA = {
    "race_id": pl.String, "bib": pl.String, "source": pl.String, "point_id": pl.String, "km": pl.Float64,
    "reported_at_utc": UTC, "disposition": pl.String,
}


def reports(rows):
    """rows of (bib, seconds after the gun, disposition), all at the 25 km aid station."""
    return pl.DataFrame(
        {
            "race_id": [RACE] * len(rows), "bib": [r[0] for r in rows], "source": ["aid_station"] * len(rows),
            "point_id": ["aid-25k"] * len(rows), "km": [25.0] * len(rows),
            "reported_at_utc": [GUN + timedelta(seconds=r[1]) for r in rows], "disposition": [r[2] for r in rows],
        },
        schema=REPORT_SCHEMA,
    )


A_AND_C = passings([("A", "mat-10k", 3000), ("A", "mat-20k", 6000), ("C", "mat-10k", 3700)])
A_AND_C_PEOPLE = participants([("A", 0, 14400.0), ("C", 0, None)])


def arrivals(out, point_id):
    row = station(out, point_id)
    return row["arrivals_next_30m"], row["arrivals_next_60m"]


@pytest.mark.parametrize("disposition", ["dnf", "transported"])
def test_a_runner_taken_off_course_by_a_report_is_not_expected_ahead(disposition):
    # A (20K at 6000 s, due at 25 km at 7500 s and 35 km at 10500 s) is reported out at 6600 s,
    # only 10 min after the mat, long before the 45-min overdue rule would drop A; C still reaches 25 km at +34 min
    out = station_forecast(NOW, A_AND_C, A_AND_C_PEOPLE, COURSE, None, PARAMS,
                           reports=reports([("A", 6600, disposition)]))
    assert arrivals(out, "aid-25k") == (0, 1)
    assert arrivals(out, "aid-35k") == (0, 0)
    assert station(out, "aid-25k")["expected_cramps_next_60m"] == pytest.approx(ON_COURSE * W_25 / W_FINISH)


def test_reports_that_do_not_stop_the_runner_or_come_later_leave_them_on_course():
    kept = reports([
        ("A", 6600, "returned_to_race"),  # treated and back in the race
        ("C", 3500, "dnf"),  # before C's 10K passing at 3700 s: C ran on (a wrong bib or a change of mind)
    ])
    out = station_forecast(NOW, A_AND_C, A_AND_C_PEOPLE, COURSE, None, PARAMS, reports=kept)
    assert arrivals(out, "aid-25k") == (1, 2)  # A at +5 min, C at +34 min
    later = station_forecast(NOW, A_AND_C, A_AND_C_PEOPLE, COURSE, None, PARAMS,
                             reports=reports([("A", 7300, "dnf")]))  # after NOW: not known yet
    assert arrivals(later, "aid-25k") == (1, 2)


def test_a_started_runner_reported_out_before_the_first_mat_is_not_projected():
    course = pl.DataFrame(
        {"race_id": [RACE] * 3, "point_id": ["aid-03k", "mat-05k", "finish"],
         "kind": ["aid_station", "timing_mat", "finish"], "km": [3.0, 5.0, 42.195],
         "label": ["Aid 3 km", "5K", "Finish"]}
    )
    people = participants([("F", 6600, 42195.0)])  # would reach 3 km at +50 min
    out = station_forecast(NOW, passings([]), people, course, None, PARAMS, reports=reports([("F", 7000, "transported")]))
    assert arrivals(out, "aid-03k") == (0, 0)
