"""Cramp-rate marts on a five-runner, 15 km race whose every count is worked out by hand.

The race (all times UTC, everyone crosses the start at 14:00, passed_at = 14:00 + net time):
  course: aid-b 3 km, mat-05k 5, aid-a 7.5, mat-10k 10, finish 15, med-finish 15 (tent)
  bib 1  M 40-49  declared 3900 s (260 s/km)  5k 1500, 10k 3000, finish 4500
  bib 2  F 30-39  declared 4800 s (320 s/km)  5k 1560, 10k 3150, finish 4900
  bib 3  M 40-49  declared 4800 s (320 s/km)  5k 1400, then stops (DNF)
  bib 4  F 30-39  no declared time, no passing (a starter who never reached 5K)
  bib 5  M 18-29  declared 6000 s (400 s/km)  5k 1900, 10k 3900, finish 6000
Reports:
  R1 bib 3 aid-a km 7.5 14:30   R1 again (a retry, same report_id)
  R2 bib 3 aid-a km 8.0 14:40   (same runner, same segment/station/bucket as R1)
  R4 no bib med-finish km 15 15:30
  R5 bib 1 med-finish km 15 15:20
  R6 bib 2 aid-a, km missing 14:45 (placed at the station's 7.5 km)
  R7 bib 99 (not a participant) aid-b km 3 14:10
Wilson 95% bounds per 1000 (textbook formula, z = 1.959964), used below:
  0/1 [0, 793.45]  1/1 [206.55, 1000]  1/2 [94.53, 905.47]  2/2 [342.38, 1000]
  0/3 [0, 561.50]  2/3 [207.66, 938.51]  1/4 [45.59, 699.36]  2/4 [150.04, 849.96]
  1/5 [36.22, 624.47]  4/6 [299.99, 903.23]
"""

from __future__ import annotations

import importlib.util
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from racecramp.marts.exposure import exposure_by_point
from racecramp.marts.rates import (
    cramp_rate_by_distance,
    cramp_rate_by_pace_group,
    cramp_rate_by_sex_age,
    cramp_rate_by_station,
    cramp_rate_by_wbgt,
    station_load_15m,
)

T0 = datetime(2017, 4, 17, 14, 0, tzinfo=timezone.utc)
UTC = pl.Datetime("us", "UTC")
RACE_KM = 15.0


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def course_points() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "race_id": "r",
            "point_id": ["aid-b", "mat-05k", "aid-a", "mat-10k", "finish", "med-finish"],
            "kind": ["aid_station", "timing_mat", "aid_station", "timing_mat", "finish", "medical_tent"],
            "km": [3.0, 5.0, 7.5, 10.0, 15.0, 15.0],
        }
    )


def participants(simulated: bool = False) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "race_id": "r",
            "bib": ["1", "2", "3", "4", "5"],
            "sex": ["M", "F", "M", "F", "M"],
            "age": [45, 33, 41, 35, 25],
            "age_band": ["40-49", "30-39", "40-49", "30-39", "18-29"],
            "wave_start_utc": pl.Series([T0] * 5, dtype=UTC),
            "declared_finish_s": [3900.0, 4800.0, 4800.0, None, 6000.0],
            "finished": [True, True, False, False, True],
            "official_time_s": [4500.0, 4900.0, None, None, 6000.0],
            "simulated": simulated,
        }
    )


def passings() -> pl.DataFrame:
    rows = [
        ("1", "mat-05k", 5.0, 1500.0), ("1", "mat-10k", 10.0, 3000.0), ("1", "finish", 15.0, 4500.0),
        ("2", "mat-05k", 5.0, 1560.0), ("2", "mat-10k", 10.0, 3150.0), ("2", "finish", 15.0, 4900.0),
        ("3", "mat-05k", 5.0, 1400.0),
        ("5", "mat-05k", 5.0, 1900.0), ("5", "mat-10k", 10.0, 3900.0), ("5", "finish", 15.0, 6000.0),
    ]  # fmt: skip
    return pl.DataFrame(
        {
            "race_id": "r",
            "bib": [r[0] for r in rows],
            "point_id": [r[1] for r in rows],
            "km": [r[2] for r in rows],
            "net_time_s": [r[3] for r in rows],
            "passed_at_utc": pl.Series([T0 + timedelta(seconds=r[3]) for r in rows], dtype=UTC),
            "simulated": False,
        }
    )


def reports(simulated_ids: tuple[str, ...] = ()) -> pl.DataFrame:
    rows = [
        ("R1", "aid-a", 7.5, "3", 30), ("R1", "aid-a", 7.5, "3", 30), ("R2", "aid-a", 8.0, "3", 40),
        ("R4", "med-finish", 15.0, None, 90), ("R5", "med-finish", 15.0, "1", 80),
        ("R6", "aid-a", None, "2", 45), ("R7", "aid-b", 3.0, "99", 10),
    ]  # fmt: skip
    return pl.DataFrame(
        {
            "report_id": [r[0] for r in rows],
            "race_id": "r",
            "source": "aid_station",
            "simulated": [r[0] in simulated_ids for r in rows],
            "point_id": [r[1] for r in rows],
            "km": [r[2] for r in rows],
            "bib": [r[3] for r in rows],
            "reported_at_utc": pl.Series([at(r[4]) for r in rows], dtype=UTC),
        }
    )


def weather() -> pl.DataFrame:
    """Two hourly observations: green (15 °C WBGT) from 13:30, yellow (19 °C) from 14:30."""
    return pl.DataFrame(
        {
            "source": "iem-asos:KBOS",
            "location": "KBOS",
            "observed_at_utc": pl.Series([at(-30), at(30)], dtype=UTC),
            "race_id": "r",
            "wbgt_c": [15.0, 19.0],
            "wbgt_flag": ["green", "yellow"],
            "interpolated": False,
            "simulated": False,
        }
    )


def exposure() -> pl.LazyFrame:
    return exposure_by_point(passings(), participants(), course_points())


def rows_by(frame: pl.LazyFrame, key: str) -> dict:
    return {row[key]: row for row in frame.collect().iter_rows(named=True)}


def check(row: dict, cases: int, runners: int, rate: float | None, low: float | None, high: float | None) -> None:
    assert (row["cases"], row["runners"]) == (cases, runners)
    if rate is None:
        assert row["rate_per_1000"] is None and row["ci_low_per_1000"] is None
        return
    assert row["rate_per_1000"] == pytest.approx(rate, abs=0.01)
    assert row["ci_low_per_1000"] == pytest.approx(low, abs=0.01)
    assert row["ci_high_per_1000"] == pytest.approx(high, abs=0.01)
    assert row["small_count"] is (cases < 5)


# --------------------------------------------------------------------------- distance


def test_rate_by_distance_counts_runners_who_entered_each_segment():
    out = rows_by(cramp_rate_by_distance(reports(), exposure(), course_points()), "segment")
    assert list(out) == ["0–5", "5–10", "10–finish", "finish/after"]
    # 0-5: all 5 starters; bib 99's report at km 3 (a place mart counts an unlinked bib)
    check(out["0–5"], 1, 5, 200.0, 36.22, 624.47)
    # 5-10: 4 passed 5K; bib 3 (twice, R1+R2, and R1 retried) and bib 2 (km from aid-a) -> 2
    check(out["5–10"], 2, 4, 500.0, 150.04, 849.96)
    check(out["10–finish"], 0, 3, 0.0, 0.0, 561.50)
    # finish/after: 3 finishers; bib 1 and the report without a bib
    check(out["finish/after"], 2, 3, 666.667, 207.66, 938.51)
    assert out["5–10"]["denominator_kind"] == "runners who entered the segment"


def test_a_report_with_no_km_anywhere_is_shown_apart_with_no_rate():
    extra = reports().head(1).with_columns(
        pl.lit("R9").alias("report_id"), pl.lit("nowhere").alias("point_id"), pl.lit(None, dtype=pl.Float64).alias("km")
    )
    out = rows_by(cramp_rate_by_distance(pl.concat([reports(), extra]), exposure(), course_points()), "segment")
    assert out["km unknown"]["cases"] == 1
    assert out["km unknown"]["rate_per_1000"] is None


def test_segments_come_from_the_exposure_when_no_course_is_given():
    out = rows_by(cramp_rate_by_distance(reports(), exposure()), "segment")
    check(out["5–10"], 2, 4, 500.0, 150.04, 849.96)


# --------------------------------------------------------------------------- station


def test_rate_by_station_counts_runners_who_passed_the_station():
    out = rows_by(cramp_rate_by_station(reports(), exposure()), "point_id")
    assert list(out) == ["aid-b", "aid-a", "med-finish"]
    check(out["aid-b"], 1, 4, 250.0, 45.59, 699.36)  # 4 reached 3 km; bib 99
    check(out["aid-a"], 2, 3, 666.667, 207.66, 938.51)  # bibs 1, 2, 5 passed 7.5 km; cases bibs 3 and 2
    check(out["med-finish"], 2, 3, 666.667, 207.66, 938.51)  # finishers; bib 1 + no-bib report


def test_a_duplicate_report_is_counted_once():
    doubled = pl.concat([reports(), reports()])
    out = rows_by(cramp_rate_by_station(doubled, exposure()), "point_id")
    assert out["aid-a"]["cases"] == 2


def test_a_simulated_report_labels_its_row_simulated_and_no_other():
    out = rows_by(cramp_rate_by_station(reports(simulated_ids=("R5",)), exposure()), "point_id")
    assert out["med-finish"]["simulated"] is True
    assert out["aid-a"]["simulated"] is False


def test_simulated_runners_label_every_row_they_feed():
    sim_exposure = exposure_by_point(passings(), participants(simulated=True), course_points())
    out = cramp_rate_by_station(reports(), sim_exposure).collect()
    assert out["simulated"].all()


# --------------------------------------------------------------------------- pace group


def test_rate_by_declared_pace_band_uses_starters_in_the_band():
    mart = cramp_rate_by_pace_group(reports(), participants(), passings(), race_distance_km=RACE_KM)
    out = rows_by(mart.filter(pl.col("grouping") == "declared_pace"), "pace_group")
    check(out["<4:30"], 1, 1, 1000.0, 206.55, 1000.0)  # bib 1 (260 s/km)
    check(out["5:00–5:30"], 2, 2, 1000.0, 342.38, 1000.0)  # bibs 2, 3 (320 s/km)
    check(out["6:00–7:00"], 0, 1, 0.0, 0.0, 793.45)  # bib 5 (400 s/km)
    check(out["undeclared"], 0, 1, 0.0, 0.0, 793.45)  # bib 4
    check(out["4:30–5:00"], 0, 0, None, None, None)
    # bib 99 and the report without a bib are not runner-linked
    assert sum(r["cases"] for r in out.values()) == 3


def test_rate_by_relative_pace_bands_cases_at_the_report_and_runners_at_their_furthest_passing():
    mart = cramp_rate_by_pace_group(reports(), participants(), passings(), race_distance_km=RACE_KM)
    out = rows_by(mart.filter(pl.col("grouping") == "relative_pace"), "pace_group")
    # bib 3: 280/320 = 0.875 at 5K (its report at 7.5 km and its furthest passing)
    check(out["<0.95 (faster than declared)"], 1, 1, 1000.0, 206.55, 1000.0)
    # bib 2: 312/320 = 0.975 at 5K (report at aid-a), 326.7/320 = 1.02 at the finish; bib 5: 1.0
    check(out["0.95–1.05"], 1, 2, 500.0, 94.53, 905.47)
    # bib 1: 300/260 = 1.154 at the finish, where it reported
    check(out[">1.05"], 1, 1, 1000.0, 206.55, 1000.0)
    check(out["undeclared"], 0, 1, 0.0, 0.0, 793.45)
    check(out["no passing"], 0, 0, None, None, None)


def test_a_report_before_the_first_mat_takes_the_pace_at_the_first_passing():
    early = reports().filter(pl.col("report_id") == "R6").with_columns(pl.lit(2.0).alias("km"), pl.lit(at(8)).alias("reported_at_utc"))
    mart = cramp_rate_by_pace_group(early, participants(), passings(), race_distance_km=RACE_KM)
    out = rows_by(mart.filter(pl.col("grouping") == "relative_pace"), "pace_group")
    assert out["0.95–1.05"]["cases"] == 1  # bib 2 at 5K: 312/320 = 0.975


def test_rate_by_observed_first_half_pace_bands_every_starter_by_how_they_ran_the_first_half():
    out = cramp_rate_by_pace_group(reports(), participants(), passings(), race_distance_km=RACE_KM).collect()
    early = {r["pace_group"]: r for r in out.filter(pl.col("grouping") == "early_pace").iter_rows(named=True)}
    # first half of 15 km: the 5K mat. bib 1 300 s/km, bib 2 312 (5:00–5:30), bib 3 280 (4:30–5:00),
    # bib 5 380 (6:00–7:00), bib 4 no passing. Cases: bibs 3, 1, 2 (bib 99 is not a participant).
    check(early["5:00–5:30"], 2, 2, 1000.0, 342.38, 1000.0)
    check(early["4:30–5:00"], 1, 1, 1000.0, 206.55, 1000.0)
    check(early["6:00–7:00"], 0, 1, 0.0, 0.0, 793.45)
    check(early["no first-half passing"], 0, 1, 0.0, 0.0, 793.45)
    assert early["<4:30"]["runners"] == 0
    # two starters did not finish: the roster holds starters
    assert early["5:00–5:30"]["denominator_kind"] == "starters in the group"
    assert early["5:00–5:30"]["rate_unit"] == "per 1000 starters"


def test_a_roster_of_finishers_only_names_every_rate_per_1000_finishers():
    finishers = participants().filter(pl.col("finished"))
    out = cramp_rate_by_pace_group(reports(), finishers, passings(), race_distance_km=RACE_KM).collect()
    assert set(out["rate_unit"]) == {"per 1000 finishers"}
    assert set(out["denominator_kind"]) == {"finishers in the group"}
    distance = cramp_rate_by_distance(reports(), exposure_by_point(passings(), finishers, course_points()),
                                      course_points(), roster=finishers).collect()
    assert set(distance["rate_unit"]) == {"per 1000 finishers"}
    assert set(cramp_rate_by_sex_age(reports(), finishers).collect()["rate_unit"]) == {"per 1000 finishers"}
    with_dnf = cramp_rate_by_sex_age(reports(), participants()).collect()
    assert set(with_dnf["rate_unit"]) == {"per 1000 starters"}


# --------------------------------------------------------------------------- WBGT


def check_per_hour(row: dict, cases: int, runners: int, hours: float, rate: float, low: float, high: float) -> None:
    assert (row["cases"], row["runners"]) == (cases, runners)
    assert row["runner_hours"] == pytest.approx(hours, abs=1e-6)
    assert row["rate_per_1000"] == pytest.approx(rate, abs=0.01)
    assert row["ci_low_per_1000"] == pytest.approx(low, abs=0.1)
    assert row["ci_high_per_1000"] == pytest.approx(high, abs=0.1)


def test_rate_by_wbgt_is_per_1000_runner_hours_on_course_in_each_flag_band():
    out = rows_by(cramp_rate_by_wbgt(reports(), exposure(), weather()), "wbgt_flag")
    assert list(out) == ["white", "green", "yellow", "red", "black"]
    # WBGT is interpolated between 13:30 (15 °C) and 14:30 (19 °C): 15 + 4 * minutes past 13:30 / 60,
    # so the minute 14:14–14:15 (middle 17.97) is green and 14:15–14:16 (18.03) yellow; the 14:30
    # reading is carried after it. On course from 14:00 to: bib 1 15:15, bib 2 15:21:40, bib 3 14:23:20
    # (his last passing), bib 5 15:40; bib 4 never passed a mat (no time on course).
    # green: 4 runners x 15 min = 1 h; yellow: 60 + 66.67 + 8.33 + 85 min = 220 min = 3.667 h.
    # Exact Poisson 95% bounds (Garwood): 1 event [0.0253, 5.5716], 4 events [1.0899, 10.2416].
    check_per_hour(out["green"], 1, 4, 1.0, 1000.0, 25.32, 5571.6)  # bib 99 at 14:10
    # yellow: bib 3 (R1 at 14:30 exactly, R2), bib 2, bib 1, and the report without a bib
    check_per_hour(out["yellow"], 4, 4, 220 / 60, 4 / (220 / 60) * 1000, 1089.9 / (220 / 60), 10241.6 / (220 / 60))
    assert out["red"]["runner_hours"] == 0 and out["red"]["rate_per_1000"] is None
    assert out["yellow"]["wbgt_band"] == "18–23 °C"
    assert out["green"]["rate_unit"] == "per 1000 runner-hours"
    assert out["green"]["denominator_kind"] == "runner-hours on course in the band"


def test_time_with_no_weather_observation_forms_its_own_band():
    late = weather().filter(pl.col("wbgt_flag") == "yellow")  # nothing before 14:30
    out = rows_by(cramp_rate_by_wbgt(reports(), exposure(), late), "wbgt_flag")
    # before 14:30: bibs 1, 2, 5 for 30 min, bib 3 for 23.33 min = 113.33 min; R7 at 14:10
    check_per_hour(out["no weather"], 1, 4, 113.333333 / 60, 1000 / (113.333333 / 60), 25.32 / (113.333333 / 60),
                   5571.6 / (113.333333 / 60))
    assert out["green"]["runners"] == 0


# --------------------------------------------------------------------------- sex x age


def test_rate_by_sex_and_age_band_uses_starters_and_runner_linked_reports_only():
    out = cramp_rate_by_sex_age(reports(), participants()).collect()
    got = {(r["sex"], r["age_band"]): r for r in out.iter_rows(named=True)}
    assert set(got) == {("F", "30-39"), ("M", "18-29"), ("M", "40-49")}
    check(got[("M", "40-49")], 2, 2, 1000.0, 342.38, 1000.0)  # bibs 1 and 3
    check(got[("F", "30-39")], 1, 2, 500.0, 94.53, 905.47)  # bib 2 of bibs 2, 4
    check(got[("M", "18-29")], 0, 1, 0.0, 0.0, 793.45)


# --------------------------------------------------------------------------- station load


def check_load(row: dict, observed: int, runners: int, expected: float | None, p: float | None) -> None:
    assert (row["observed"], row["runners_passed"]) == (observed, runners)
    assert row["expected"] == (None if expected is None else pytest.approx(expected, abs=1e-9))
    assert row["p_exceed"] == (None if p is None else pytest.approx(p, abs=1e-4))


def test_station_load_is_observed_against_expected_per_quarter_hour_with_no_proportion():
    out = station_load_15m(reports(), exposure()).collect()
    got = {(r["point_id"], r["bucket_start_utc"]): r for r in out.iter_rows(named=True)}
    # grid: 3 stations x 7 buckets (14:00 ... 15:30, the last passing is bib 5 at 15:40)
    assert out.height == 21
    assert "rate_per_1000" not in out.columns and "ci_low_per_1000" not in out.columns
    # aid-b over the race: 1 case (bib 99 at 14:10) over 4 passing runners; aid-a: 2 cases (bib 3, bib 2) over 3
    check_load(got[("aid-b", at(0))], 1, 1, 0.25, 0.221199)  # bib 3 passed at 14:14: 1 - exp(-0.25)
    check_load(got[("aid-b", at(15))], 0, 3, 0.75, 1.0)  # bibs 1, 2, 5 at 14:15, 14:15:36, 14:19
    check_load(got[("aid-a", at(30))], 1, 2, 4 / 3, 0.736403)  # bibs 1, 2 passed; bib 3 reported twice
    check_load(got[("aid-a", at(45))], 1, 1, 2 / 3, 0.486583)  # bib 5 passed 14:48:20; bib 2 reported
    check_load(got[("aid-b", at(60))], 0, 0, 0.0, 1.0)
    assert got[("aid-a", at(45))]["bucket_end_utc"] == at(60)


def test_station_load_as_of_now_ignores_later_data_and_marks_the_running_bucket():
    out = station_load_15m(reports(), exposure(), now_utc=at(40)).collect()
    got = {(r["point_id"], r["bucket_start_utc"]): r for r in out.iter_rows(named=True)}
    assert max(r[1] for r in got) == at(30)
    row = got[("aid-a", at(30))]
    check_load(row, 1, 2, 1.0, 0.632121)  # by 14:40 aid-a has 1 case over 2 passing runners
    assert row["bucket_complete"] is False
    assert got[("aid-a", at(15))]["bucket_complete"] is True


def test_station_load_rejects_a_naive_now():
    with pytest.raises(ValueError, match="no time zone"):
        station_load_15m(reports(), exposure(), now_utc=datetime(2017, 4, 17, 14, 40))


# --------------------------------------------------------------------------- pandas reference


def _load_bench(name: str):
    path = Path(__file__).resolve().parents[2] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def second_race() -> dict[str, pl.DataFrame]:
    """A 42.195 km race "r2" with 5K/20K/35K/40K mats (so the slowdown marts have rows)."""
    mats = {"mat-05k": 5.0, "mat-20k": 20.0, "mat-35k": 35.0, "mat-40k": 40.0, "finish": 42.195}
    splits = {
        "X1": [1500, 6000, 10500, 12000, 12700],  # 300 -> 300 s/km: not slowed
        "X2": [1500, 6000, 11000, 12900, 13700],  # 300 -> 380: slowed
        "X3": [1200, 4800, 8600, 10400, 11200],  # 240 -> 360: slowed
    }
    course = pl.DataFrame(
        {
            "race_id": "r2",
            "point_id": [*mats, "aid-30", "med-finish"],
            "kind": ["timing_mat"] * 4 + ["finish", "aid_station", "medical_tent"],
            "km": [*mats.values(), 30.0, 42.195],
        }
    )
    people = participants().head(3).with_columns(
        pl.lit("r2").alias("race_id"), pl.Series("bib", list(splits)), pl.lit(True).alias("finished"),
        pl.Series("official_time_s", [float(v[-1]) for v in splits.values()]),
    )  # fmt: skip
    rows = [(bib, point, km, t) for bib, times in splits.items() for (point, km), t in zip(mats.items(), times)]
    runs = pl.DataFrame(
        {
            "race_id": "r2",
            "bib": [r[0] for r in rows],
            "point_id": [r[1] for r in rows],
            "km": [r[2] for r in rows],
            "net_time_s": [float(r[3]) for r in rows],
            "passed_at_utc": pl.Series([T0 + timedelta(seconds=r[3]) for r in rows], dtype=UTC),
            "simulated": False,
        }
    )
    cramps = reports().head(2).with_columns(
        pl.lit("r2").alias("race_id"), pl.Series("report_id", ["Q1", "Q2"]), pl.lit("aid-30").alias("point_id"),
        pl.lit(30.0).alias("km"), pl.Series("bib", ["X2", None]), pl.lit(at(150)).alias("reported_at_utc"),
    )  # fmt: skip
    sky = weather().with_columns(pl.lit("r2").alias("race_id"), pl.lit("replay").alias("source"))
    return {"participants": people, "passings": runs, "course_points": course, "cramp_reports": cramps, "weather": sky}


def test_the_pandas_sqlite_reference_gives_the_same_marts_as_polars():
    reference = _load_bench("pandas_sqlite_reference")
    bench = _load_bench("marts_bench")
    first = {
        "participants": participants(),
        "passings": passings(),
        "course_points": course_points(),
        "cramp_reports": reports(simulated_ids=("R5",)),
        "weather": weather(),
    }
    second = second_race()
    inputs = {name: pl.concat([first[name], second[name]], how="diagonal_relaxed") for name in first}
    expected = bench.polars_marts(inputs, race_distance_km=RACE_KM)
    got = reference.as_polars(reference.reference_marts(inputs, race_distance_km=RACE_KM))
    # The reference (bench/, issue 15) still has the per-passing WBGT table and the proportion per
    # 15-minute bucket, and names every denominator "starters"/"runners" (no rate_unit): those are
    # checked by hand above; every count, denominator and interval must agree.
    changed = {"cramp_rate_by_wbgt", "station_load_15m"}
    def drop(frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
        out = {n: f.drop("rate_unit", "denominator_kind", strict=False) for n, f in frames.items() if n not in changed}
        out["cramp_rate_by_pace_group"] = out["cramp_rate_by_pace_group"].filter(pl.col("grouping") != "early_pace")
        return out

    bench.assert_same_marts(drop(got), drop(expected))
    # the comparison saw real rows in both races, the slowdown marts included
    assert expected["cramp_rate_by_station"]["race_id"].to_list() == ["r", "r", "r", "r2", "r2"]
    assert expected["late_slowdown_by_edition"].select("race_id", "runners", "slowed").rows() == [("r2", 3, 2)]
