"""Who passed which point, and when: the denominators of every rate."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from racecramp.marts.exposure import exposure_by_point, runner_segments

T0 = datetime(2017, 4, 17, 14, 0, tzinfo=timezone.utc)
UTC = pl.Datetime("us", "UTC")


def course() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "race_id": "r",
            "point_id": ["aid-b", "mat-05k", "aid-a", "mat-10k", "mat-15k", "finish", "med-finish"],
            "kind": ["aid_station", "timing_mat", "aid_station", "timing_mat", "timing_mat", "finish", "medical_tent"],
            "km": [3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 20.0],
        }
    )


def participants() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "race_id": "r",
            "bib": ["A", "B", "C"],
            "wave_start_utc": pl.Series([T0, T0, T0 + timedelta(minutes=25)], dtype=UTC),
            # 20 km race: A declares 6000 s = 300 s/km
            "declared_finish_s": [6000.0, None, None],
            "finished": [True, False, False],
            "simulated": [False, False, True],
        }
    )


def passings() -> pl.DataFrame:
    # A crossed the start 2 min after the gun; its 10K read is missing.
    start_a = T0 + timedelta(minutes=2)
    rows = [
        ("A", "mat-05k", 5.0, 1500.0, start_a),
        ("A", "mat-15k", 15.0, 4800.0, start_a),
        ("A", "finish", 20.0, 6600.0, start_a),
        ("B", "mat-05k", 5.0, 1800.0, T0),
        ("B", "mat-10k", 10.0, 3900.0, T0),
    ]
    return pl.DataFrame(
        {
            "race_id": "r",
            "bib": [r[0] for r in rows],
            "point_id": [r[1] for r in rows],
            "km": [r[2] for r in rows],
            "net_time_s": [r[3] for r in rows],
            "passed_at_utc": pl.Series([r[4] + timedelta(seconds=r[3]) for r in rows], dtype=UTC),
            "simulated": False,
        }
    )


def exposure_rows() -> dict:
    out = exposure_by_point(passings(), participants(), course()).collect()
    return {(r["bib"], r["point_id"]): r for r in out.iter_rows(named=True)}


def test_a_station_between_mats_gets_a_time_interpolated_between_the_bracketing_passings():
    rows = exposure_rows()
    # B at aid-a (7.5 km): halfway between 5K (1800 s) and 10K (3900 s) -> 2850 s after 14:00
    b = rows[("B", "aid-a")]
    assert b["net_time_s"] == pytest.approx(2850.0)
    assert b["passed_at_utc"] == T0 + timedelta(seconds=2850)
    assert b["time_estimated"] is True


def test_a_station_before_the_first_mat_is_interpolated_from_the_start_crossing():
    rows = exposure_rows()
    # A crossed the start at 14:02 (first passing minus its net time); aid-b at 3/5 of 1500 s
    assert rows[("A", "start")]["passed_at_utc"] == T0 + timedelta(minutes=2)
    assert rows[("A", "start")]["time_estimated"] is False
    assert rows[("A", "aid-b")]["net_time_s"] == pytest.approx(900.0)
    assert rows[("A", "aid-b")]["passed_at_utc"] == T0 + timedelta(minutes=2, seconds=900)


def test_a_missed_mat_counts_as_passed_with_an_estimated_time():
    rows = exposure_rows()
    # A has no 10K read but passed 15K: 10K at 1500 + (5/10) * 3300 = 3150 s
    ten = rows[("A", "mat-10k")]
    assert ten["net_time_s"] == pytest.approx(3150.0)
    assert ten["time_estimated"] is True
    assert rows[("A", "mat-15k")]["time_estimated"] is False


def test_a_non_finisher_passes_only_the_points_up_to_their_last_passing():
    rows = exposure_rows()
    passed_by_b = sorted(point for bib, point in rows if bib == "B")
    assert passed_by_b == ["aid-a", "aid-b", "mat-05k", "mat-10k", "start"]


def test_a_starter_with_no_passing_has_only_a_start_at_the_wave_gun_time():
    rows = exposure_rows()
    assert [point for bib, point in rows if bib == "C"] == ["start"]
    assert rows[("C", "start")]["passed_at_utc"] == T0 + timedelta(minutes=25)
    assert rows[("C", "start")]["time_estimated"] is True
    assert rows[("C", "start")]["simulated"] is True


def test_the_finish_tent_at_the_finish_km_gets_the_finish_time():
    rows = exposure_rows()
    tent = rows[("A", "med-finish")]
    assert tent["net_time_s"] == pytest.approx(6600.0)
    assert tent["time_estimated"] is True  # nobody times the tent; the finish mat does
    assert len([k for k in rows if k[1] == "med-finish"]) == 1


def test_segments_run_from_the_start_between_consecutive_passings_with_their_paces():
    seg = runner_segments(passings(), participants(), course()).collect().filter(pl.col("bib") == "A")
    assert seg["from_point"].to_list() == ["start", "mat-05k", "mat-15k"]
    assert seg["to_point"].to_list() == ["mat-05k", "mat-15k", "finish"]
    # 1500/5 = 300; (4800-1500)/10 = 330; (6600-4800)/5 = 360 s/km
    assert seg["segment_pace_s_per_km"].to_list() == pytest.approx([300.0, 330.0, 360.0])
    # pace so far: 1500/5, 4800/15, 6600/20
    assert seg["pace_so_far_s_per_km"].to_list() == pytest.approx([300.0, 320.0, 330.0])
    # declared pace 6000 s / 20 km (the finish point's km) = 300 s/km
    assert seg["relative_pace_so_far"].to_list() == pytest.approx([1.0, 320 / 300, 1.1])
    assert seg["entered_at_utc"][0] == T0 + timedelta(minutes=2)
    assert seg["left_at_utc"][2] == T0 + timedelta(minutes=2, seconds=6600)


def test_a_non_finisher_has_segments_up_to_the_last_passing_only():
    seg = runner_segments(passings(), participants(), course()).collect().filter(pl.col("bib") == "B")
    assert seg["to_point"].to_list() == ["mat-05k", "mat-10k"]
    assert seg["finished"].to_list() == [False, False]
    assert seg["declared_pace_s_per_km"].to_list() == [None, None]


def test_course_km_is_the_truth_when_a_passing_carries_a_different_km():
    wrong = passings().with_columns(pl.when(pl.col("point_id") == "mat-05k").then(4.9).otherwise(pl.col("km")).alias("km"))
    seg = runner_segments(wrong, participants(), course()).collect().filter(pl.col("bib") == "B")
    assert seg["to_km"].to_list() == [5.0, 10.0]


def test_a_missing_column_is_named_in_the_error():
    with pytest.raises(ValueError, match="passings has no column 'net_time_s'"):
        exposure_by_point(passings().drop("net_time_s"), participants(), course())
