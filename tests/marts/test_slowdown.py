"""Late-race slowdown: hand-timed finishers, live distress on course, and the documented Boston figures."""

from __future__ import annotations

import importlib.util
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from racecramp.marts.slowdown import late_slowdown_by_edition, late_slowdown_by_finish_band, live_distress

from paths import SHARED

T0 = datetime(2017, 4, 17, 14, 0, tzinfo=timezone.utc)
UTC = pl.Datetime("us", "UTC")
ROOT = Path(__file__).resolve().parents[2]
BOSTON = SHARED / "boston_results"
KM = {"mat-05k": 5.0, "mat-10k": 10.0, "mat-15k": 15.0, "mat-20k": 20.0, "mat-25k": 25.0, "mat-35k": 35.0, "mat-40k": 40.0,
      "finish": 42.195}  # fmt: skip


def frames(runners: dict[str, dict[str, float]], finished: dict[str, bool], official: dict[str, float | None]):
    participants = pl.DataFrame(
        {
            "race_id": "r",
            "bib": list(runners),
            "finished": [finished[b] for b in runners],
            "official_time_s": [official[b] for b in runners],
        },
        schema_overrides={"official_time_s": pl.Float64},
    )
    rows = [(bib, point, t) for bib, splits in runners.items() for point, t in splits.items()]
    passings = pl.DataFrame(
        {
            "race_id": "r",
            "bib": [r[0] for r in rows],
            "point_id": [r[1] for r in rows],
            "km": [KM[r[1]] for r in rows],
            "net_time_s": [r[2] for r in rows],
            "passed_at_utc": pl.Series([T0 + timedelta(seconds=r[2]) for r in rows], dtype=UTC),
        }
    )
    return participants, passings


def finishers():
    four = lambda t5, t20, t35, t40: {"mat-05k": t5, "mat-20k": t20, "mat-35k": t35, "mat-40k": t40}  # noqa: E731
    runners = {
        "F1": four(1500, 6000, 10500, 12000),  # 300 -> 300 s/km: ratio 1.0
        "F2": four(1500, 6000, 11000, 12900),  # 300 -> 380: 1.267, slowed
        "F3": four(1500, 6000, 11000, 12875),  # 300 -> 375: exactly 1.25, not slowed (strictly more)
        "F4": {"mat-05k": 1500, "mat-20k": 6000, "mat-40k": 12000},  # no 35K split: left out
        "F5": four(1500, 6000, 11000, 13000),  # did not finish: left out
        "F6": four(1200, 4800, 8600, 10400),  # 240 -> 360: 1.5, slowed
    }
    finished = {b: b != "F5" for b in runners}
    official = {"F1": 12700.0, "F2": 13700.0, "F3": 13600.0, "F4": 12800.0, "F5": None, "F6": 11200.0}
    return frames(runners, finished, official)


def test_share_of_finishers_who_slowed_more_than_25_percent_with_wilson_ci():
    out = late_slowdown_by_edition(*finishers()).collect().row(0, named=True)
    assert (out["runners"], out["slowed"]) == (4, 2)
    assert out["share"] == pytest.approx(0.5)
    # Wilson 2/4: centre (0.5 + 0.480182)/1.960365 = 0.5; half 0.999795*sqrt(0.0625+0.060023) = 0.349960
    assert out["ci_low"] == pytest.approx(0.15004, abs=1e-5)
    assert out["ci_high"] == pytest.approx(0.84996, abs=1e-5)
    # ratios 1.0, 1.2667, 1.25, 1.5 -> median (1.25 + 1.2667)/2
    assert out["median_ratio"] == pytest.approx((1.25 + 380 / 300) / 2)


def test_slowdown_by_30_minute_finish_band():
    out = {r["finish_band"]: r for r in late_slowdown_by_finish_band(*finishers()).collect().iter_rows(named=True)}
    assert list(out) == ["3:00–3:30", "3:30–4:00"]
    assert (out["3:00–3:30"]["runners"], out["3:00–3:30"]["slowed"]) == (1, 1)  # F6, 3:06:40
    assert (out["3:30–4:00"]["runners"], out["3:30–4:00"]["slowed"]) == (3, 1)  # F1, F2, F3
    # Wilson 1/3: [0.06149, 0.79234]
    assert out["3:30–4:00"]["ci_low"] == pytest.approx(0.06149, abs=1e-5)
    assert out["3:30–4:00"]["ci_high"] == pytest.approx(0.79234, abs=1e-5)


# --------------------------------------------------------------------------- live


def live_course() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "race_id": "r",
            "point_id": ["mat-05k", "mat-10k", "aid-12", "mat-15k", "mat-20k", "aid-22", "mat-25k", "aid-27", "finish"],
            "kind": ["timing_mat", "timing_mat", "aid_station", "timing_mat", "timing_mat", "aid_station", "timing_mat",
                     "aid_station", "finish"],
            "km": [5.0, 10.0, 12.0, 15.0, 20.0, 22.0, 25.0, 27.0, 42.195],
            "label": ["5K", "10K", "Aid 12", "15K", "20K", "Aid 22", "25K", "Aid 27", "Finish"],
        }
    )  # fmt: skip


def live_runners():
    runners = {
        # 5-20 km at 300 s/km, then 20-25 km at 600 s/km: ratio 2.0 against the 5-20 km pace
        "L1": {"mat-05k": 1500, "mat-10k": 3000, "mat-15k": 4500, "mat-20k": 6000, "mat-25k": 9000},
        # no 20K yet: 480 s/km for 5-10 km against 300 s/km from the start to 5K: ratio 1.6
        "L2": {"mat-05k": 1500, "mat-10k": 3900},
        # 360 against 300: ratio 1.2, under the threshold
        "L3": {"mat-05k": 1500, "mat-10k": 3300},
        # finished (slowly): no longer on course
        "L4": {"mat-05k": 1500, "mat-20k": 6000, "finish": 20000},
        # one passing: no baseline
        "L5": {"mat-05k": 3000},
        # its 20K read (10000 s) comes after "now" (9600 s) and must be ignored (it would be 1100 s/km)
        "L6": {"mat-05k": 1500, "mat-10k": 3000, "mat-15k": 4500, "mat-20k": 10000},
    }
    return frames(runners, {b: False for b in runners}, {b: None for b in runners})[1]


NOW = T0 + timedelta(seconds=9600)


def test_live_distress_flags_runners_slowing_more_than_25_percent_worst_first():
    out = live_distress(live_runners(), live_course(), NOW).collect()
    assert out["bib"].to_list() == ["L1", "L2"]
    assert out["slowdown_ratio"].to_list() == pytest.approx([2.0, 1.6])
    assert out["baseline"].to_list() == ["5–20 km", "start to previous passing"]
    assert out["latest_segment_pace_s_per_km"].to_list() == pytest.approx([600.0, 480.0])


def test_live_distress_names_the_next_station_and_when_the_runner_should_reach_it():
    out = {r["bib"]: r for r in live_distress(live_runners(), live_course(), NOW).collect().iter_rows(named=True)}
    # L1 passed 25K at 9000 s; 600 s later at 600 s/km it is at 26 km; Aid 27 is 1 km (600 s) on
    assert out["L1"]["estimated_km_now"] == pytest.approx(26.0)
    assert (out["L1"]["next_station_point_id"], out["L1"]["next_station_label"]) == ("aid-27", "Aid 27")
    assert out["L1"]["eta_next_station_utc"] == NOW + timedelta(seconds=600)
    # L2 passed 10K at 3900 s; 5700 s at 480 s/km would be 21.9 km, but it has not reached 15K:
    # capped at 15 km, so it already passed Aid 12 and the next station is Aid 22 (7 km, 3360 s)
    assert out["L2"]["estimated_km_now"] == pytest.approx(15.0)
    assert out["L2"]["next_station_point_id"] == "aid-22"
    assert out["L2"]["eta_next_station_utc"] == NOW + timedelta(seconds=3360)


def test_live_distress_needs_an_aware_now():
    with pytest.raises(ValueError, match="no time zone"):
        live_distress(live_runners(), live_course(), datetime(2017, 4, 17, 16, 40))


# --------------------------------------------------------------------------- real Boston, documented


def _documented_edition_rows() -> dict[str, tuple[int, int, float, float, float]]:
    """The per-edition table in docs/late_slowdown.md: race_id -> (runners, slowed, share, ci_low, ci_high)."""
    text = (ROOT / "docs" / "late_slowdown.md").read_text()
    rows = {}
    for m in re.finditer(r"^\| (boston-\d{4}) \| ([\d,]+) \| ([\d,]+) \| ([\d.]+) % \| ([\d.]+) – ([\d.]+) % \|", text, re.M):
        rows[m.group(1)] = (
            int(m.group(2).replace(",", "")), int(m.group(3).replace(",", "")),
            float(m.group(4)), float(m.group(5)), float(m.group(6)),
        )  # fmt: skip
    return rows


@pytest.mark.realdata
def test_documented_boston_2017_figures_match_a_recomputation_from_the_real_file():
    spec = importlib.util.spec_from_file_location("scaleup", ROOT / "bench" / "scaleup.py")
    scaleup = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scaleup)
    participants, passings = scaleup.read_boston_results(BOSTON / "marathon_results_2017.csv", "boston-2017")
    got = late_slowdown_by_edition(participants, passings).collect().row(0, named=True)
    documented = _documented_edition_rows()["boston-2017"]
    assert (got["runners"], got["slowed"]) == documented[:2]
    assert round(100 * got["share"], 1) == documented[2]
    assert (round(100 * got["ci_low"], 1), round(100 * got["ci_high"], 1)) == documented[3:]
