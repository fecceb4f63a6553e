"""Rates page (AppTest): each table is its mart — cases, denominators, CIs — and simulated rows are labelled."""

from __future__ import annotations

import polars as pl

from racecramp.views.shared import Snapshots

from apptest_helpers import open_page

NUMBERS = ("cases", "runners", "rate_per_1000", "ci_low_per_1000", "ci_high_per_1000")


def _tables(at) -> list[pl.DataFrame]:
    return [pl.from_pandas(d.value) for d in at.dataframe]


def _same_numbers(shown: pl.DataFrame, mart: pl.DataFrame) -> None:
    assert shown.height == mart.height
    for col in NUMBERS:
        assert shown[col].to_list() == mart[col].to_list(), col


def test_each_rate_table_equals_its_mart_in_band_order(small):
    snaps = Snapshots(small.snapshot_dir)
    tables = _tables(open_page("pages/rates.py"))
    distance = snaps.table("cramp_rate_by_distance").sort("segment_order")
    pace = snaps.table("cramp_rate_by_pace_group").sort("band_order")
    wbgt = snaps.table("cramp_rate_by_wbgt").sort("band_order")
    sex_age = snaps.table("cramp_rate_by_sex_age")
    expected = [
        distance, pace.filter(pl.col("grouping") == "declared_pace"), pace.filter(pl.col("grouping") == "relative_pace"),
        pace.filter(pl.col("grouping") == "early_pace"), wbgt, sex_age,
    ]
    for shown, mart in zip(tables, expected):
        _same_numbers(shown, mart)
    assert tables[0]["segment"].to_list() == distance["segment"].to_list()
    assert tables[1]["pace_group"].to_list() == expected[1]["pace_group"].to_list()


def test_denominators_are_shown_and_named(small):
    at = open_page("pages/rates.py")
    tables = _tables(at)
    assert all({"runners", "denominator_kind", "rate_unit"} <= set(t.columns) for t in tables[:6])
    assert "runner_hours" in tables[4].columns
    captions = " ".join(c.value for c in at.caption)
    # the small race has runners who did not finish: the roster holds starters
    for kind in ("starters who entered the segment", "starters in the group", "runner-hours on course in the band",
                 "Rates per 1000 starters", "Rates per 1000 runner-hours"):
        assert kind in captions


def test_sex_age_rates_by_hand(small):
    sex_age = _tables(open_page("pages/rates.py"))[5]
    row = sex_age.filter((pl.col("sex") == "F") & (pl.col("age_band") == "70+")).row(0, named=True)
    assert (row["cases"], row["runners"], row["rate_per_1000"]) == (1, 1, 1000.0)  # bib 110, the only F 70+
    men_40s = sex_age.filter((pl.col("sex") == "M") & (pl.col("age_band") == "40-49")).row(0, named=True)
    assert (men_40s["cases"], men_40s["runners"]) == (1, 1)  # bib 103, two reports, one case


def test_segments_with_a_simulated_report_are_labelled(small):
    at = open_page("pages/rates.py")
    assert any("SIMULATED" in w.value for w in at.warning)
    distance = _tables(at)[0]
    # R2 (simulated, no bib) was at 25.75 km: the 25–30 segment.
    assert distance.filter(pl.col("simulated"))["segment"].to_list() == ["25–30"]
    assert any(h.value.endswith("SIMULATED") for h in at.subheader)
