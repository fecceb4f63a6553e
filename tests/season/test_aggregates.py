import math
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from racecramp.season.aggregates import EditionAggregates, edition_aggregates, pool_editions

UTC = timezone.utc
Z = 1.959963984540054  # two-sided 95% normal quantile


def wilson(k: int, n: int) -> tuple[float, float]:
    """Textbook Wilson score interval (Wilson 1927), written out independently of statsmodels."""
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return centre - half, centre + half


def _edition(race_id, wbgt_rows, pace_rows, starters, cases, peak_c, flag, slow_n, slowed, simulated=False):
    wbgt = pl.DataFrame(
        [{"race_id": race_id, "wbgt_flag": f, "wbgt_band": b, "band_order": o, "cases": c, "runners": n, "simulated": simulated}
         for f, b, o, c, n in wbgt_rows]
    )  # fmt: skip
    pace = pl.DataFrame(
        [{"race_id": race_id, "grouping": "declared_pace", "pace_group": g, "band_order": o, "cases": c, "runners": n,
          "simulated": simulated} for g, o, c, n in pace_rows]
    )  # fmt: skip
    edition = pl.DataFrame(
        {"race_id": [race_id], "starters": [starters], "cases": [cases], "race_day_wbgt_c": [peak_c],
         "race_day_wbgt_flag": [flag], "slowdown_runners": [slow_n], "slowed": [slowed], "simulated": [simulated]}
    )  # fmt: skip
    return EditionAggregates(wbgt=wbgt, pace=pace, edition=edition)


A = _edition("boston-2017", [("green", "10–18 °C", 1, 1, 2000), ("yellow", "18–23 °C", 2, 3, 1000)],
             [("<4:30", 0, 2, 100), ("≥7:00", 5, 1, 50)], 150, 3, 21.5, "yellow", 140, 30)  # fmt: skip
B = _edition("boston-2018", [("yellow", "18–23 °C", 2, 2, 500)], [("<4:30", 0, 0, 60)], 60, 2, 19.0, "yellow", 50, 10, True)  # fmt: skip
C = _edition("chicago-2019", [("white", "<10 °C", 0, 0, 900)], [("<4:30", 0, 1, 40)], 40, 1, 8.0, "white", 40, 2)  # fmt: skip


def test_pooled_wbgt_band_is_the_sum_of_the_editions_with_a_wilson_ci():
    out = pool_editions([A, B, C])["season_cramp_rate_by_wbgt"]
    yellow = out.filter(pl.col("wbgt_flag") == "yellow").row(0, named=True)
    assert (yellow["editions"], yellow["cases"], yellow["runners"]) == (2, 5, 1500)
    assert yellow["rate_per_1000"] == pytest.approx(5 / 1500 * 1000)
    low, high = wilson(5, 1500)
    assert yellow["ci_low_per_1000"] == pytest.approx(low * 1000, rel=1e-9)
    assert yellow["ci_high_per_1000"] == pytest.approx(high * 1000, rel=1e-9)
    assert yellow["simulated"] is True  # boston-2018's counts are simulated, so the pooled row says so
    assert out["wbgt_flag"].to_list() == ["white", "green", "yellow"]  # band order, coolest first
    green = out.filter(pl.col("wbgt_flag") == "green").row(0, named=True)
    assert (green["editions"], green["cases"], green["runners"], green["simulated"]) == (1, 1, 2000, False)


def test_pooled_pace_group_sums_cases_and_starters():
    out = pool_editions([A, B, C])["season_cramp_rate_by_pace_group"]
    fastest = out.filter(pl.col("pace_group") == "<4:30").row(0, named=True)
    assert (fastest["editions"], fastest["cases"], fastest["runners"]) == (3, 3, 200)
    assert fastest["rate_per_1000"] == pytest.approx(15.0)
    assert fastest["small_count"] is True  # 3 cases < domain.SMALL_COUNT_BELOW


def test_race_day_band_pools_cramp_rate_and_late_slowdown_share():
    out = pool_editions([A, B, C])["season_by_race_day_wbgt"]
    assert out["race_day_wbgt_flag"].to_list() == ["white", "yellow"]
    yellow = out.filter(pl.col("race_day_wbgt_flag") == "yellow").row(0, named=True)
    assert (yellow["editions"], yellow["starters"], yellow["cases"]) == (2, 210, 5)
    assert yellow["rate_per_1000"] == pytest.approx(5 / 210 * 1000)
    assert (yellow["slowdown_runners"], yellow["slowed"]) == (190, 40)
    assert yellow["slowdown_share"] == pytest.approx(40 / 190)
    low, high = wilson(40, 190)
    assert (yellow["slowdown_ci_low"], yellow["slowdown_ci_high"]) == (pytest.approx(low), pytest.approx(high))


def test_per_edition_rows_keep_their_race_day_wbgt_and_series_edition():
    out = pool_editions([C, A, B])["season_editions"]
    assert out.select("race_id", "series", "edition", "race_day_wbgt_c").rows() == [
        ("boston-2017", "boston", "2017", 21.5), ("boston-2018", "boston", "2018", 19.0), ("chicago-2019", "chicago", "2019", 8.0)
    ]
    assert out["rate_per_1000"].to_list() == pytest.approx([20.0, 2 / 60 * 1000, 25.0])


def test_pooling_does_not_depend_on_the_order_editions_arrive_in():
    forward, backward = pool_editions([A, B, C]), pool_editions([C, B, A])
    for name in forward:
        assert_frame_equal(forward[name], backward[name])


def test_no_edition_is_an_error_not_an_empty_table():
    with pytest.raises(ValueError, match="no editions"):
        pool_editions([])


# ----------------------------------------------------------------- one tiny edition end to end

T0 = datetime(2017, 4, 17, 9, 30, tzinfo=UTC)
MATS = [("mat-05k", "timing_mat", 5.0), ("mat-20k", "timing_mat", 20.0), ("mat-35k", "timing_mat", 35.0),
        ("mat-40k", "timing_mat", 40.0), ("finish", "finish", 42.195)]  # fmt: skip


def _tiny_edition() -> dict[str, pl.DataFrame]:
    """3 runners at an even 300 s/km, except runner 3 whose 35→40 km takes 2000 s (400 s/km)."""
    race = "tiny-2017"
    course = pl.DataFrame(
        [(race, p, k, km) for p, k, km in MATS] + [(race, "aid-10", "aid_station", 10.0), (race, "med-finish", "medical_tent", 42.195)],
        schema={"race_id": pl.String, "point_id": pl.String, "kind": pl.String, "km": pl.Float64}, orient="row",
    )  # fmt: skip
    participants = pl.DataFrame(
        {"race_id": [race] * 3, "bib": ["1", "2", "3"], "sex": ["F", "M", "M"], "age_band": ["30-39"] * 3,
         "wave_start_utc": [T0] * 3, "declared_finish_s": [12_000.0, 12_000.0, None], "declared_is_synthetic": [False] * 3,
         "finished": [True] * 3, "official_time_s": [12_658.5, 12_658.5, 13_158.5], "simulated": [False] * 3},
        schema_overrides={"wave_start_utc": pl.Datetime("us", "UTC")},
    )  # fmt: skip
    rows = []
    for bib in ("1", "2", "3"):
        for point, _, km in MATS:
            net = km * 300.0 + (500.0 if bib == "3" and km >= 40 else 0.0)
            rows.append((race, bib, point, km, net, T0 + timedelta(seconds=net), False))
    passings = pl.DataFrame(
        rows, schema={"race_id": pl.String, "bib": pl.String, "point_id": pl.String, "km": pl.Float64, "net_time_s": pl.Float64,
                      "passed_at_utc": pl.Datetime("us", "UTC"), "simulated": pl.Boolean}, orient="row",
    )  # fmt: skip
    reports = pl.DataFrame(
        {"report_id": ["r1", "r1", "r2"], "race_id": [race] * 3, "point_id": ["aid-10", "aid-10", "med-finish"],
         "km": [10.0, 10.0, 42.195], "bib": ["1", "1", None],
         "source": ["aid_station", "aid_station", "finish_tent"], "reported_at_utc": [T0 + timedelta(seconds=3100), T0 + timedelta(seconds=3100), T0 + timedelta(seconds=13_000)],
         "simulated": [False] * 3},
        schema_overrides={"reported_at_utc": pl.Datetime("us", "UTC")},
    )  # fmt: skip
    hours = [datetime(2017, 4, 17, h, 0, tzinfo=UTC) for h in (9, 10, 11, 12, 13)]
    weather = pl.DataFrame(
        {"source": ["visualcrossing"] * 5, "observed_at_utc": hours, "wbgt_c": [12.0, 15.0, 20.0, 16.0, 25.0],
         "wbgt_flag": ["green", "green", "yellow", "green", "red"], "race_id": [race] * 5, "simulated": [False] * 5},
        schema_overrides={"observed_at_utc": pl.Datetime("us", "UTC")},
    )  # fmt: skip
    return {"participants": participants, "passings": passings, "course_points": course, "cramp_reports": reports,
            "weather_heat": weather}  # fmt: skip


def test_one_edition_counts_by_hand():
    agg = edition_aggregates(_tiny_edition())
    edition = agg.edition.row(0, named=True)
    # 3 starters; one bib-linked cramped runner (bib 1, reported twice with the same id)
    assert (edition["starters"], edition["cases"]) == (3, 1)
    # last passing: runner 3 at the finish, 09:30 + 13,158.5 s = 13:09:18, so the 13:00 reading (25 °C) is in the window
    assert edition["race_day_wbgt_c"] == 25.0 and edition["race_day_wbgt_flag"] == "red"
    # late/early pace: runners 1, 2 = 1.0; runner 3 = 400/300 = 1.33 > 1.25
    assert (edition["slowdown_runners"], edition["slowed"]) == (3, 1)
    # the report at aid-10 (10:21:40) falls under the 10:00 reading (15 °C, green); the one without a bib under 13:00 (red)
    wbgt = {r["wbgt_flag"]: (r["cases"], r["runners"]) for r in agg.wbgt.iter_rows(named=True)}
    assert wbgt["green"][0] == 1 and wbgt["red"][0] == 1
    # 3 runners each pass aid-10 (at 10:20) and med-finish: aid-10 green, finish passings at 13:00:58 / 13:09:18 red
    assert wbgt["green"][1] == 3 and wbgt["red"][1] == 3
    declared = agg.pace.filter(pl.col("grouping") == "declared_pace")
    undeclared = declared.filter(pl.col("pace_group") == "undeclared").row(0, named=True)
    assert (undeclared["cases"], undeclared["runners"]) == (0, 1)
    band = declared.filter(pl.col("runners") == 2).row(0, named=True)  # 12,000 s / 42.195 km = 284 s/km
    assert (band["pace_group"], band["cases"]) == ("4:30–5:00", 1)
