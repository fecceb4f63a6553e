"""Records landed with years-wrong times: quarantined with the window in the message, and the
ingest and its marts stay bounded by the race window (no bucket per quarter hour of 54 years)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from racecramp import landing
from racecramp.landing.bulk import ingest_now
from racecramp.marts.rates import station_load_15m
from racecramp.sources.race import read_race
from racecramp.validation.windows import race_windows
from racecramp.warehouse.sql import query
from racecramp.warehouse.writer import open_writer

from paths import DATA

TYPO_YEARS = (1917, 2071)
PEAK_RSS_RATIO = 1.5  # of the same ingest's peak with the records on race day


def _report(at: str, **fields) -> dict:
    return {"report_id": str(uuid.uuid4()), "race_id": "boston-2017", "source": "aid_station", "point_id": "aid-23mi",
            "km": 37.015, "bib": "12345", "reported_at_utc": at, "muscle_group": "calf", "severity": "mild",
            "treatment": "stretch_massage", "disposition": "returned_to_race", **fields}


def test_a_report_stamped_in_the_wrong_year_is_quarantined_naming_the_window(boston_2017):
    good = _report("2017-04-17T17:05:00+00:00")
    bad = _report("2071-04-17T17:05:00+00:00")
    landing.append_records(boston_2017.landing_dir, "reports", [good, bad], source="station:aid-23mi")
    summary = ingest_now(boston_2017)
    assert (summary.accepted, summary.quarantined) == (1, 1)
    with open_writer(boston_2017.warehouse_path) as con:
        (message,) = query(con, "SELECT message FROM quarantine")["message"].to_list()
    assert "reported_at_utc=2071-04-17T17:05:00+00:00" in message and "outside boston-2017's window" in message
    assert "2017-04-17 06:32" in message and "America/New_York" in message


def _land(settings, years) -> int:
    """Reports, passings and weather on 17 April of `years`, landed directly (the intake would refuse other years)."""
    count = 0
    for year in years:
        at = f"{year}-04-17T17:05:00+00:00"
        landing.append_records(settings.landing_dir, "reports", [_report(at) for _ in range(20)], source="direct")
        passings = [{"race_id": "boston-2017", "bib": str(100 + i), "point_id": "mat-30k", "km": 30.0, "net_time_s": 9000.0,
                     "passed_at_utc": at} for i in range(20)]
        landing.append_records(settings.landing_dir, "passings", passings, source="direct")
        weather = [{"source": "direct", "location": "Boston", "observed_at_utc": at, "temp_c": 20.0, "race_id": "boston-2017"}]
        landing.append_records(settings.landing_dir, "weather", weather, source="direct")
        count += 41
    return count


def _ingest_in_a_child() -> dict:
    """One ingest in a fresh interpreter: its summary and its peak resident memory."""
    script = (
        "import json, resource\n"
        "from racecramp.config import load_settings\n"
        "from racecramp.landing.bulk import ingest_now\n"
        "s = ingest_now(load_settings())\n"
        "print(json.dumps({'quarantined': s.quarantined, 'accepted': s.accepted,"
        " 'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(400)
def test_the_ingest_of_years_wrong_records_finishes_in_bounded_time_and_memory(boston_2017):
    """The same records on race day, then in typo years: the second ingest needs no more memory than
    the first within a margin (before the windows, a 54-year span took the ingest past 19 GB)."""
    on_race_day = _land(boston_2017, (2017,))
    baseline = _ingest_in_a_child()
    assert (baseline["quarantined"], baseline["accepted"]) == (0, on_race_day)
    typos = _land(boston_2017, TYPO_YEARS)
    result = _ingest_in_a_child()
    assert (result["quarantined"], result["accepted"]) == (typos, 0)
    assert result["peak_mb"] < PEAK_RSS_RATIO * baseline["peak_mb"], (baseline, result)
    races, _ = read_race(DATA / "races" / "boston-2017.toml")
    window = race_windows(races).row(0, named=True)
    with open_writer(boston_2017.warehouse_path) as con:
        buckets = query(con, "SELECT min(bucket_start_utc) AS lo, max(bucket_start_utc) AS hi, count(*) AS n FROM station_load_15m")
    assert window["window_start_utc"] <= buckets["lo"][0] and buckets["hi"][0] <= window["window_end_utc"]


def test_station_load_buckets_stay_inside_the_race_window_whatever_times_reach_them():
    races, _ = read_race(DATA / "races" / "boston-2017.toml")
    windows = race_windows(races)
    times = [datetime(2017, 4, 17, 17, 5, tzinfo=UTC), datetime(2071, 4, 17, 17, 5, tzinfo=UTC)]
    reports = pl.DataFrame({"report_id": [str(uuid.uuid4()) for _ in times], "race_id": ["boston-2017"] * 2, "source": ["aid_station"] * 2,
                            "point_id": ["aid-23mi"] * 2, "km": [37.015] * 2, "bib": ["1", "2"], "reported_at_utc": times,
                            "simulated": [False] * 2}, schema_overrides={"reported_at_utc": pl.Datetime("us", "UTC")})
    exposure = pl.DataFrame({"race_id": ["boston-2017"], "point_id": ["aid-23mi"], "kind": ["aid_station"], "km": [37.015],
                             "bib": ["1"], "passed_at_utc": [times[0] - timedelta(minutes=3)], "simulated": [False]},
                            schema_overrides={"passed_at_utc": pl.Datetime("us", "UTC")})
    load = station_load_15m(reports, exposure, windows=windows).collect()
    window = windows.row(0, named=True)
    assert load["bucket_start_utc"].max() <= window["window_end_utc"] and load.height <= 4 * 24
    assert load["observed"].sum() == 1  # the 2071 report is not in any bucket
