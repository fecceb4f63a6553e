"""Consensus-style export: timing, severity and rates per 1000 starters (BJSM 2019 categories)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from racecramp.report.consensus import consensus_encounters, consensus_rates

T0 = datetime(2017, 4, 17, 16, 0, tzinfo=UTC)
RACES = pl.DataFrame({"race_id": ["r-2017"], "name": ["R"], "date": [date(2017, 4, 17)], "timezone": ["UTC"], "distance_km": [42.195]})
PARTICIPANTS = pl.DataFrame({"race_id": ["r-2017"] * 4, "bib": ["1", "2", "3", "4"], "sex": ["M", "F", "M", "F"],
                             "age_band": ["30-39"] * 4, "finished": [True, True, False, True]})


def _report(report_id, source, km, severity, disposition, bib="1", simulated=False):
    return {"report_id": report_id, "race_id": "r-2017", "source": source, "point_id": "p", "km": km, "bib": bib,
            "reported_at_utc": T0, "muscle_group": "calf", "severity": severity, "treatment": "rest",
            "disposition": disposition, "simulated": simulated}


@pytest.fixture
def encounters() -> pl.DataFrame:
    reports = pl.DataFrame([
        _report("a", "aid_station", 30.0, "mild", "returned_to_race"),
        _report("b", "finish_tent", 42.195, "moderate", "discharged", bib="2"),
        _report("c", "aid_station", 38.6, "moderate", "transported", bib="3"),  # transported: serious
        _report("d", "aid_station", 41.9, "severe", "discharged", bib="4"),  # within 0.5 km of the finish: at the finish
        _report("e", "survey", 35.0, None, None),  # not a medical encounter
    ], schema_overrides={"reported_at_utc": pl.Datetime("us", "UTC")})
    return consensus_encounters(reports, PARTICIPANTS, RACES, "r-2017")


def test_each_medical_report_is_one_encounter_with_timing_and_severity(encounters):
    rows = {r["encounter_id"]: r for r in encounters.iter_rows(named=True)}
    assert sorted(rows) == ["a", "b", "c", "d"]
    assert rows["a"]["timing"] == "during race (on course)"
    assert rows["b"]["timing"] == "after finishing (finish area)"
    assert rows["d"]["timing"] == "after finishing (finish area)"
    assert [rows[k]["severity_consensus"] for k in "abcd"] == ["not serious", "not serious", "serious", "serious"]
    assert rows["c"]["finished"] is False and rows["b"]["sex"] == "F"
    assert set(encounters["diagnosis_category"]) == {"musculoskeletal"}


def test_rates_are_encounters_per_1000_starters(encounters):
    rates = consensus_rates(encounters, 2000, race_id="r-2017", denominator_kind="starters")
    overall = rates.filter(pl.col("dimension") == "all").row(0, named=True)
    assert overall["encounters"] == 4 and overall["rate_per_1000"] == pytest.approx(2.0)
    assert (overall["denominator"], overall["denominator_kind"], overall["rate_unit"]) == (2000, "starters", "per 1000 starters")
    serious = rates.filter((pl.col("dimension") == "severity_consensus") & (pl.col("category") == "serious")).row(0, named=True)
    assert serious["encounters"] == 2 and serious["rate_per_1000"] == pytest.approx(1.0)
    assert serious["ci_low_per_1000"] < 1.0 < serious["ci_high_per_1000"]


def test_a_finishers_only_roster_gives_rates_per_1000_finishers(encounters):
    rates = consensus_rates(encounters, 1600, race_id="r-2017", denominator_kind="finishers")
    assert set(rates["denominator_kind"]) == {"finishers"} and set(rates["rate_unit"]) == {"per 1000 finishers"}
    assert "starters" not in rates.columns
