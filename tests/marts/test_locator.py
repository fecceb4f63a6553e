"""Runner locator: last seen, projected position, next mat and medical status per bib."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from racecramp.marts.locator import runner_status

UTC = pl.Datetime("us", "UTC")
GUN = datetime(2017, 4, 17, 14, 0, tzinfo=timezone.utc)
NOW = GUN + timedelta(seconds=10_800)  # 3 h after the gun
RACE = "boston-2017"

COURSE = pl.DataFrame(
    {
        "race_id": [RACE] * 7,
        "point_id": ["mat-10k", "mat-20k", "aid-22k", "mat-30k", "aid-37k", "finish", "med-finish"],
        "kind": ["timing_mat", "timing_mat", "aid_station", "timing_mat", "aid_station", "finish", "medical_tent"],
        "km": [10.0, 20.0, 22.0, 30.0, 37.0, 42.195, 42.195],
        "label": ["10K", "20K", "Aid 22 km", "30K", "Aid 37 km", "Finish", "Finish tent"],
    }
)
KM = dict(zip(COURSE["point_id"], COURSE["km"]))
PASSING_SCHEMA = {
    "race_id": pl.String, "bib": pl.String, "point_id": pl.String, "km": pl.Float64,
    "net_time_s": pl.Float64, "passed_at_utc": UTC, "simulated": pl.Boolean,
}
REPORT_SCHEMA = {
    "report_id": pl.String, "race_id": pl.String, "source": pl.String, "simulated": pl.Boolean,
    "point_id": pl.String, "km": pl.Float64, "bib": pl.String, "reported_at_utc": UTC, "disposition": pl.String,
}


def passings_frame(rows: list[tuple[str, str, float]]) -> pl.DataFrame:
    """rows of (bib, point_id, net_time_s); everyone crossed the start at the gun."""
    return pl.DataFrame(
        {
            "race_id": [RACE] * len(rows),
            "bib": [r[0] for r in rows],
            "point_id": [r[1] for r in rows],
            "km": [KM[r[1]] for r in rows],
            "net_time_s": [r[2] for r in rows],
            "passed_at_utc": [GUN + timedelta(seconds=r[2]) for r in rows],
            "simulated": [False] * len(rows),
        },
        schema=PASSING_SCHEMA,
    )


def reports_frame(rows: list[tuple[str, str, float, str | None]]) -> pl.DataFrame:
    """rows of (bib, point_id, seconds after the gun, disposition)."""
    return pl.DataFrame(
        {
            "report_id": [f"r{i}" for i in range(len(rows))],
            "race_id": [RACE] * len(rows),
            "source": ["finish_tent" if r[1] == "med-finish" else "aid_station" for r in rows],
            "simulated": [False] * len(rows),
            "point_id": [r[1] for r in rows],
            "km": [KM[r[1]] for r in rows],
            "bib": [r[0] for r in rows],
            "reported_at_utc": [GUN + timedelta(seconds=r[2]) for r in rows],
            "disposition": [r[3] for r in rows],
        },
        schema=REPORT_SCHEMA,
    )


def participants_frame(bibs: list[str]) -> pl.DataFrame:
    return pl.DataFrame({"race_id": [RACE] * len(bibs), "bib": bibs, "simulated": [False] * len(bibs)})


@pytest.fixture
def status() -> pl.DataFrame:
    passings = passings_frame(
        [
            ("101", "mat-10k", 3000), ("101", "mat-20k", 6000), ("101", "mat-30k", 9300),
            ("101", "finish", 13_400),  # after NOW: not known yet
            ("102", "mat-10k", 2400), ("102", "mat-20k", 4800), ("102", "mat-30k", 7200), ("102", "finish", 10_200),
            ("103", "mat-10k", 3000), ("103", "mat-20k", 6000), ("103", "mat-30k", 9000),
            ("105", "mat-10k", 2500), ("105", "mat-20k", 5000), ("105", "mat-30k", 7500), ("105", "finish", 10_500),
            ("106", "mat-10k", 3000), ("106", "mat-20k", 6000), ("106", "mat-30k", 9600),
            ("107", "mat-10k", 3000),
        ]
    )
    reports = reports_frame(
        [
            ("103", "aid-37k", 10_000, "dnf"),
            ("105", "med-finish", 10_600, None),
            ("106", "aid-22k", 6500, "returned_to_race"),
        ]
    )
    out = runner_status(NOW, participants_frame(["101", "102", "103", "104", "105", "106", "107"]),
                        passings, reports, COURSE)
    return out


def row(frame: pl.DataFrame, bib: str) -> dict:
    return frame.filter(pl.col("bib") == bib).to_dicts()[0]


def test_runner_on_course_is_projected_from_latest_segment_pace(status):
    r = row(status, "101")
    assert r["status"] == "on_course"
    assert r["last_point_id"] == "mat-30k"
    # latest segment 20k -> 30k took 9300 - 6000 = 3300 s: 330 s/km
    assert r["pace_s_per_km"] == pytest.approx(330.0)
    # 10800 - 9300 = 1500 s since the 30K mat at 330 s/km
    assert r["projected_km_now"] == pytest.approx(30 + 1500 / 330)
    assert r["next_point_id"] == "finish"
    assert r["next_point_eta_utc"] == GUN + timedelta(seconds=9300 + 12.195 * 330)
    assert r["overdue"] is False


def test_a_passing_after_now_is_not_known_yet(status):
    assert row(status, "101")["status"] != "finished"


def test_finisher_has_no_projected_position(status):
    r = row(status, "102")
    assert r["status"] == "finished"
    assert r["last_point_id"] == "finish"
    assert r["projected_km_now"] is None
    assert r["next_point_id"] is None


def test_dnf_reported_at_a_station_is_located_at_that_station(status):
    r = row(status, "103")
    assert r["status"] == "dnf"
    assert r["last_point_id"] == "mat-30k"
    assert r["projected_km_now"] == pytest.approx(37.0)
    assert r["last_report_point_id"] == "aid-37k"
    assert r["last_disposition"] == "dnf"
    assert r["report_count"] == 1
    assert r["last_report_at_utc"] == GUN + timedelta(seconds=10_000)
    assert r["next_point_id"] is None


def test_runner_never_seen_is_not_started(status):
    r = row(status, "104")
    assert r["status"] == "not_started"
    assert r["last_point_id"] is None and r["projected_km_now"] is None
    assert r["report_count"] == 0


def test_finisher_being_treated_in_the_finish_tent_is_in_medical(status):
    r = row(status, "105")
    assert r["status"] == "in_medical"
    assert r["last_report_point_id"] == "med-finish"
    assert r["projected_km_now"] == pytest.approx(42.195)


def test_runner_who_returned_to_race_and_passed_a_mat_is_on_course(status):
    r = row(status, "106")
    assert r["status"] == "on_course"
    assert r["report_count"] == 1
    assert r["last_disposition"] == "returned_to_race"
    assert r["last_point_id"] == "mat-30k"


def test_runner_long_past_the_projected_next_mat_is_overdue(status):
    r = row(status, "107")
    # only the 10K mat at 3000 s (300 s/km); 20K expected at 6000 s, now is 10800 s: 80 min late
    assert r["status"] == "on_course"
    assert r["next_point_id"] == "mat-20k"
    assert r["overdue"] is True
    assert r["projected_km_now"] == pytest.approx(10 + 7800 / 300)


def test_one_row_per_participant(status):
    assert status["bib"].to_list() == ["101", "102", "103", "104", "105", "106", "107"]


def test_projection_is_capped_at_the_finish():
    passings = passings_frame([("201", "mat-10k", 3000), ("201", "mat-20k", 6000), ("201", "mat-30k", 9000)])
    late = GUN + timedelta(seconds=9000 + 20 * 300)  # 20 km of running after the 30K mat
    out = runner_status(late, participants_frame(["201"]), passings, reports_frame([]), COURSE)
    assert row(out, "201")["projected_km_now"] == pytest.approx(42.195)


def test_naive_now_is_rejected():
    with pytest.raises(ValueError, match="now_utc"):
        runner_status(datetime(2017, 4, 17, 15), participants_frame(["1"]), passings_frame([]), reports_frame([]), COURSE)
