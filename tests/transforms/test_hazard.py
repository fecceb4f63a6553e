"""The cramp hazard model shared by alerts, forecast and the simulator."""

from __future__ import annotations

import polars as pl
import pytest

from racecramp.transforms.hazard import (
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
    # every on-course km is collected by exactly one station; the finish tent also gets the finish share
    stations = station_catchments(boston_like_stations()).filter(pl.col("kind") != "finish")
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
    got = station_catchments(course).select("point_id", "catchment_km", "receives_finish_share").rows()
    assert [(p, round(c, 3), f) for p, c, f in got] == [
        ("aid-a", 3.2, False),
        ("aid-b", 4.8, False),
        ("finish", 34.195, False),
        ("med-finish", 34.195, True),
    ]


@pytest.mark.parametrize(
    ("field", "bad"),
    [("finish_share", 1.5), ("presentations_per_1000_starters", -1.0), ("ramp_start_km", 36.0), ("fast_pace_rr", 0.0)],
)
def test_impossible_parameters_are_refused_by_name(field, bad):
    with pytest.raises(ValueError, match=f"HazardParams.{field}={bad}"):
        HazardParams(**{field: bad})
