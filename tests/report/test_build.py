"""Report content from small hand-made snapshot frames: counting rules and series."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from racecramp.report.build import build_report, comparison, headline, quarantine_for_race, series_of

T0 = datetime(2017, 4, 17, 14, 0, tzinfo=UTC)


def _races(*rows: tuple[str, date]) -> pl.DataFrame:
    return pl.DataFrame({
        "race_id": [r for r, _ in rows], "name": ["Boston Marathon"] * len(rows), "date": [d for _, d in rows],
        "timezone": ["America/New_York"] * len(rows), "distance_km": [42.195] * len(rows),
        "start_waves": [[{"wave": 1, "start_utc": T0.replace(year=d.year)}] for _, d in rows],
    })


def _participants(race_id: str, n: int, finished: int) -> pl.DataFrame:
    return pl.DataFrame({
        "race_id": [race_id] * n, "bib": [str(i) for i in range(n)], "finished": [i < finished for i in range(n)],
        "simulated": [False] * n, "wave_start_utc": [T0] * n, "official_time_s": [14400.0 if i < finished else None for i in range(n)],
    }, schema_overrides={"wave_start_utc": pl.Datetime("us", "UTC")})


def _reports(rows: list[tuple]) -> pl.DataFrame:
    """rows of (report_id, race_id, source, bib, disposition)."""
    return pl.DataFrame(
        {
            "report_id": [r[0] for r in rows], "race_id": [r[1] for r in rows], "source": [r[2] for r in rows],
            "bib": [r[3] for r in rows], "disposition": [r[4] for r in rows], "point_id": ["aid-20mi"] * len(rows),
            "km": [32.2] * len(rows), "reported_at_utc": [T0] * len(rows), "simulated": [False] * len(rows),
        },
        schema_overrides={"reported_at_utc": pl.Datetime("us", "UTC"), "bib": pl.String, "disposition": pl.String},
    )


@pytest.fixture
def frames() -> dict:
    reports = _reports([
        ("a", "boston-2017", "aid_station", "1", "returned_to_race"),
        ("a", "boston-2017", "aid_station", "1", "returned_to_race"),  # a client retry: same report_id
        ("b", "boston-2017", "finish_tent", "1", "transported"),  # same runner again: one case, two presentations
        ("c", "boston-2017", "aid_station", None, None),  # no bib: its own case
        ("d", "boston-2017", "survey", "2", None),  # a survey answer is not a presentation
        ("e", "boston-2018", "aid_station", "3", "dnf"),
    ])
    return {
        "races": _races(("boston-2017", date(2017, 4, 17)), ("boston-2018", date(2018, 4, 16)), ("chicago-2017", date(2017, 10, 8))),
        "participants": pl.concat([_participants("boston-2017", 1000, 800), _participants("boston-2018", 500, 500)]),
        "cramp_reports": reports,
    }


def test_presentations_cases_and_rates_follow_the_mart_counting_rules(frames):
    head = headline(frames, "boston-2017")
    assert (head.starters, head.finishers) == (1000, 800)
    assert head.presentations == 3  # a, b, c: the retry counted once, the survey row not at all
    assert head.cases == 2  # bib 1 once, plus the report without a bib
    assert head.per_starters.per_1000 == pytest.approx(2.0)
    assert head.per_finishers.per_1000 == pytest.approx(2.5)
    # Wilson 95% interval for 2/1000, by hand: (0.000549, 0.007262)
    assert head.per_starters.ci_low == pytest.approx(0.5486, abs=1e-3)
    assert head.per_starters.ci_high == pytest.approx(7.262, abs=1e-3)
    assert head.dispositions == {"returned_to_race": 1, "dnf": 0, "transported": 1, "discharged": 0, "not recorded": 1}
    assert head.transports == 1


def test_series_is_the_race_id_without_its_year():
    assert series_of("boston-2017") == "boston"
    assert series_of("twin-cities-2014") == "twin-cities"
    assert series_of("hometown-10k") == "hometown-10k"  # no year: a series of its own


def test_comparison_has_earlier_editions_of_the_same_series_only(frames):
    race_2018 = frames["races"].filter(pl.col("race_id") == "boston-2018").row(0, named=True)
    race_2017 = frames["races"].filter(pl.col("race_id") == "boston-2017").row(0, named=True)
    assert comparison(frames, race_2018)["race_id"].to_list() == ["boston-2017", "boston-2018"]
    assert comparison(frames, race_2017)["race_id"].to_list() == ["boston-2017"]  # not the later 2018, not chicago


def test_quarantine_is_attributed_by_the_record_race_id():
    quarantine = pl.DataFrame({
        "source": ["reports:log.csv", "reports:log.csv", "weather:x", "reports:log.csv"],
        "check": ["km_within_course", "km_within_course", "dew_point_not_above_temperature", "type"],
        "record": ['{"race_id":"boston-2017","km":99}', '{"race_id":"boston-2017","km":98}', '{"temp_c":1}', '{"race_id":"boston-2018"}'],
    })
    mine, total, unattributed = quarantine_for_race(quarantine, "boston-2017")
    assert mine.rows() == [("reports:log.csv", "km_within_course", 2)]
    assert (total, unattributed) == (4, 1)


def test_an_unknown_race_or_missing_snapshot_is_refused_by_name(frames):
    with pytest.raises(ValueError, match="race_id='nowhere-2020' is not in the races table"):
        build_report(frames, "nowhere-2020")
    with pytest.raises(ValueError, match="'cramp_reports' is not published"):
        build_report({**frames, "cramp_reports": None}, "boston-2017")


def test_simulated_reports_mark_the_report_simulated(frames):
    frames["cramp_reports"] = frames["cramp_reports"].with_columns(pl.col("report_id").eq("e").alias("simulated"))
    assert build_report(frames, "boston-2017").simulated_parts == []
    assert build_report(frames, "boston-2018").simulated_parts == ["cramp reports"]
