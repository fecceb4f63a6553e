"""The cramp hazard model shared by alerts, forecast and the simulator."""

from __future__ import annotations

import polars as pl
import pytest

from racecramp.marts.hazard import (
    HazardParams,
    expected_presentations_per_runner,
    hazard_per_km,
    heat_multiplier,
    km_weight,
    on_course_share,
    pace_multiplier,
    station_catchments,
    with_expected_presentations,
)

DEFAULT = HazardParams()


def value(expr: pl.Expr) -> float:
    return pl.select(expr).item()


def boston_like_stations() -> pl.DataFrame:
    """An aid station every mile (1..26) plus a finish line and a finish tent, and two mats."""
    miles = list(range(1, 27))
    return pl.DataFrame(
        {
            "race_id": ["r"] * (len(miles) + 4),
            "point_id": [f"aid-{m:02d}mi" for m in miles] + ["mat-05k", "mat-40k", "finish", "med-finish"],
            "kind": ["aid_station"] * len(miles) + ["timing_mat", "timing_mat", "finish", "medical_tent"],
            "km": [m * 1.609344 for m in miles] + [5.0, 40.0, 42.195, 42.195],
            "label": [f"Aid {m} mi" for m in miles] + ["5K", "40K", "Finish", "Finish tent"],
        }
    )


def test_a_baseline_runner_sums_to_the_assumed_presentations_per_starter():
    # every on-course km is collected by exactly one station (the finish line beside the finish
    # tent included); the finish tent also gets the finish share
    stations = station_catchments(boston_like_stations())
    total = stations.with_columns(relative_pace=pl.lit(1.0), wbgt_c=pl.lit(12.0)).pipe(with_expected_presentations)
    assert total["expected_presentations"].sum() == pytest.approx(6.5 / 1000)


def test_most_of_the_course_hazard_lies_after_30_km_as_manjra_reported():
    # Manjra 1996: 80% of cramps began after 30 km. Integral of the shape to 30 km:
    # 0.02 × 30 + 0.98 × 10³ / (3 × 15²) = 2.051852 of 12.795, so 1 − 2.051852 / 12.795 = 0.8396 after
    share = value(on_course_share(30.0, DEFAULT.course_km))
    assert share == pytest.approx(0.8396, abs=1e-4)
    assert abs(share - 0.80) < 0.05


def test_hazard_is_near_zero_before_20_km_and_peaks_from_35_km():
    weights = pl.DataFrame({"km": [5.0, 19.9, 27.5, 35.0, 42.0]}).select(km_weight("km")).to_series().to_list()
    # 2% of peak early; halfway up the quadratic ramp: 0.02 + 0.98 × 0.25
    assert weights == pytest.approx([0.02, 0.02, 0.02 + 0.98 * 0.25, 1.0, 1.0])


def test_hazard_per_km_integrates_to_the_on_course_share():
    km = pl.DataFrame({"km": [i * 0.001 for i in range(42_196)]})
    density = km.select(hazard_per_km("km", 1.0, 10.0)).to_series()
    assert density.sum() * 0.001 == pytest.approx(6.5 / 1000 * (1 - 0.416), rel=1e-3)


def test_running_faster_than_declared_multiplies_the_hazard():
    got = pl.DataFrame({"rp": [0.90, 0.95, 1.10, None]}, schema={"rp": pl.Float64}).select(pace_multiplier("rp"))
    # Schwellnus 2011: RR 1.5-2, midpoint 1.75, below relative pace 0.95; unknown pace counts as 1
    assert got.to_series().to_list() == [1.75, 1.0, 1.0, 1.0]


def test_heat_multiplier_follows_roberts_above_15_c():
    got = pl.DataFrame({"w": [10.0, 15.0, 20.5, None]}, schema={"w": pl.Float64}).select(heat_multiplier("w")).to_series()
    # U(20.5) = 0.514·20.5² − 8.097·20.5 + 78.926 = 128.946; U(15) = 73.121
    assert got.to_list() == pytest.approx([1.0, 1.0, 128.946 / 73.121, 1.0])


def test_heat_effect_scales_how_much_of_the_all_cause_curve_applies():
    half = HazardParams(heat_effect=0.5)
    assert value(heat_multiplier(20.5, half)) == pytest.approx(1 + 0.5 * (128.946 / 73.121 - 1))


def test_expected_presentations_at_one_station_by_hand():
    # Aid at 37 km collecting 35.4-37 km (plateau), runner 10% fast, WBGT 10 °C
    got = value(expected_presentations_per_runner(37.0, 0.9, 10.0, 1.6))
    assert got == pytest.approx(0.0065 * 1.75 * (1 - 0.416) * 1.6 / 12.795)


def test_finish_tent_collects_the_post_finish_share():
    without = value(expected_presentations_per_runner(42.195, 1.0, 10.0, 2.0))
    with_finish = value(expected_presentations_per_runner(42.195, 1.0, 10.0, 2.0, True))
    assert with_finish - without == pytest.approx(0.0065 * 0.416)


def test_catchment_is_the_distance_since_the_previous_station():
    course = pl.DataFrame(
        {
            "race_id": ["r"] * 5,
            "point_id": ["mat-05k", "aid-a", "aid-b", "finish", "med-finish"],
            "kind": ["timing_mat", "aid_station", "aid_station", "finish", "medical_tent"],
            "km": [5.0, 3.2, 8.0, 42.195, 42.195],
            "label": ["5K", "A", "B", "Finish", "Finish tent"],
        }
    )
    got = station_catchments(course).select("point_id", "from_km", "catchment_km", "receives_finish_share").rows()
    # the finish line and the finish tent stand at one km: the tent owns 8-42.195 km once
    assert [(p, f, round(c, 3), s) for p, f, c, s in got] == [
        ("aid-a", 0.0, 3.2, False),
        ("aid-b", 3.2, 4.8, False),
        ("finish", 8.0, 0.0, False),
        ("med-finish", 8.0, 34.195, True),
    ]


def tiny_course() -> pl.DataFrame:
    """10 km: aid at 3, an aid station and a medical tent together at 6, aid at 8, finish line and tent at 10."""
    return pl.DataFrame(
        {
            "race_id": ["t"] * 7,
            "point_id": ["aid-3", "aid-6", "med-6", "mat-7", "aid-8", "finish", "med-finish"],
            "kind": ["aid_station", "aid_station", "medical_tent", "timing_mat", "aid_station", "finish", "medical_tent"],
            "km": [3.0, 6.0, 6.0, 7.0, 8.0, 10.0, 10.0],
            "label": ["A3", "A6", "M6", "7K", "A8", "Finish", "Finish tent"],
        }
    )


def test_catchments_partition_the_course_without_overlap_or_gap():
    got = station_catchments(tiny_course())
    owners = got.filter(pl.col("catchment_km") > 0).sort("km")
    # by hand: (0,3] aid-3, (3,6] med-6 (the tent, not the aid station beside it), (6,8] aid-8, (8,10] med-finish
    assert owners.select("point_id", "from_km", "km").rows() == [
        ("aid-3", 0.0, 3.0), ("med-6", 3.0, 6.0), ("aid-8", 6.0, 8.0), ("med-finish", 8.0, 10.0)]
    assert owners["from_km"].to_list()[1:] == owners["km"].to_list()[:-1], "each stretch starts where the last ended"
    assert got["catchment_km"].sum() == pytest.approx(10.0), "the stretches add up to the course, once"
    assert got.filter(pl.col("catchment_km") == 0)["point_id"].sort().to_list() == ["aid-6", "finish"]
    assert got.filter("receives_finish_share")["point_id"].to_list() == ["med-finish"]


def test_a_finish_without_a_tent_owns_the_last_stretch_and_the_finish_share():
    course = tiny_course().filter(pl.col("point_id") != "med-finish")
    got = station_catchments(course).filter(pl.col("point_id") == "finish").row(0, named=True)
    assert (got["catchment_km"], got["receives_finish_share"]) == (2.0, True)


def test_expected_presentations_at_the_finish_are_not_counted_twice():
    # one baseline runner (pace 1, cool) over the tiny course: the stations' sum is base × (on-course share
    # of 0-10 km + finish share), the finish tent and finish line together holding the last 2 km once.
    params = HazardParams(course_km=10.0, ramp_start_km=4.0, peak_from_km=8.0, floor_weight=1.0)  # flat hazard
    stations = station_catchments(tiny_course()).with_columns(relative_pace=pl.lit(1.0), wbgt_c=pl.lit(10.0))
    per_station = stations.pipe(with_expected_presentations, params)
    assert per_station["expected_presentations"].sum() == pytest.approx(0.0065)
    finish_area = per_station.filter(pl.col("km") == 10.0)["expected_presentations"].sum()
    # a flat km_weight: 8-10 km is 2/10 of the on-course share
    assert finish_area == pytest.approx(0.0065 * (0.416 + (1 - 0.416) * 2.0 / 10.0))


@pytest.mark.parametrize(
    ("field", "bad"),
    [("finish_share", 1.5), ("presentations_per_1000_starters", -1.0), ("ramp_start_km", 36.0), ("fast_pace_rr", 0.0)],
)
def test_impossible_parameters_are_refused_by_name(field, bad):
    with pytest.raises(ValueError, match=f"HazardParams.{field}={bad}"):
        HazardParams(**{field: bad})
