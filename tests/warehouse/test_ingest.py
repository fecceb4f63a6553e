"""The one way in: landing -> validation -> quarantine or merge, idempotent."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import polars as pl

from racecramp import landing
from racecramp.landing.bulk import import_tabular, ingest_now
from racecramp.warehouse.sql import query, scalar
from racecramp.warehouse.writer import open_writer


def _count(settings, table: str) -> int:
    with open_writer(settings.warehouse_path) as con:
        return scalar(con, f"SELECT count(*) FROM {table}")


def _report(**overrides):
    base = {
        "report_id": str(uuid.uuid4()),
        "race_id": "boston-2017",
        "source": "aid_station",
        "point_id": "aid-23mi",
        "km": 37.015,
        "bib": "12345",
        "reported_at_utc": "2017-04-17T17:05:00+00:00",
        "muscle_group": "calf",
        "severity": "mild",
        "treatment": "stretch_massage",
        "disposition": "returned_to_race",
    }
    base.update(overrides)
    return base


def test_a_report_landed_twice_is_counted_once(boston_2017):
    report = _report()
    landing.append_records(boston_2017.landing_dir, "reports", [report], source="station:aid-23mi")
    landing.append_records(boston_2017.landing_dir, "reports", [report], source="station:aid-23mi")
    ingest_now(boston_2017)
    assert _count(boston_2017, "cramp_reports") == 1


def test_ingesting_the_same_landing_twice_changes_nothing(boston_2017):
    landing.append_records(boston_2017.landing_dir, "reports", [_report(), _report(km=99.0)], source="s")
    first = ingest_now(boston_2017)
    second = ingest_now(boston_2017)
    assert (first.accepted, first.quarantined) == (1, 1)
    assert second.batches == []
    assert _count(boston_2017, "cramp_reports") == 1
    assert _count(boston_2017, "quarantine") == 1


def test_bad_reports_are_quarantined_with_a_message_naming_field_value_and_expectation(boston_2017):
    bad = [
        _report(km=-3),
        _report(km="abc"),
        _report(point_id="aid-99mi"),
        _report(severity="awful"),
        _report(race_id="chicago-2017"),
        _report(km=20.0),  # aid-23mi is at 37.0 km
    ]
    landing.append_records(boston_2017.landing_dir, "reports", [_report(), *bad], source="station:aid-23mi")
    summary = ingest_now(boston_2017)
    assert summary.accepted == 1 and summary.quarantined == len(bad)
    with open_writer(boston_2017.warehouse_path) as con:
        q = query(con, 'SELECT row_in_batch, "column", "check", message FROM quarantine ORDER BY row_in_batch')
    messages = dict(zip(q["row_in_batch"], q["message"]))
    assert "km=-3.0" in messages[1] and ">= 0" in messages[1] and "record 2" in messages[1]
    assert "km='abc'" in messages[2] and "a number" in messages[2]
    assert "point_id='aid-99mi'" in messages[3] and "course" in messages[3]
    assert "severity='awful'" in messages[4] and "mild" in messages[4]
    assert "race_id='chicago-2017'" in messages[5]
    assert "km=20.0" in messages[6] and "aid-23mi" in messages[6]


def test_quarantine_keeps_the_record_as_it_arrived(boston_2017):
    landing.append_records(boston_2017.landing_dir, "reports", [_report(km=-3, bib="777")], source="s")
    ingest_now(boston_2017)
    with open_writer(boston_2017.warehouse_path) as con:
        record = scalar(con, "SELECT json_extract_string(record, '$.bib') FROM quarantine")
    assert record == "777"


def test_report_log_csv_imports_through_a_mapping(boston_2017, tmp_path):
    log = tmp_path / "aid23.csv"
    log.write_text(
        "Report ID,Time,Station,Km,Bib,Muscle,Severity,Treatment,Outcome,Entered by\n"
        ",2017-04-17 13:05,aid-23mi,37.015,12345,calves,mild,stretch_massage,back in race,vol A\n"
        ",2017-04-17 13:20,aid-23mi,37.015,-,quads,moderate,rest,DNF,vol A\n"
        ",2017-04-17 25:99,aid-23mi,37.015,222,calf,mild,rest,returned,vol B\n"
    )
    result = import_tabular(boston_2017, log, "boston-2017", "reports")
    assert (result.summary.accepted, result.summary.quarantined) == (2, 1)
    with open_writer(boston_2017.warehouse_path) as con:
        reports = query(con, "SELECT bib, muscle_group, disposition, reported_at_utc FROM cramp_reports ORDER BY reported_at_utc")
        message = scalar(con, "SELECT message FROM quarantine")
    assert reports["bib"].to_list() == ["12345", None]
    assert reports["muscle_group"].to_list() == ["calf", "quadriceps"]
    assert reports["disposition"].to_list() == ["returned_to_race", "dnf"]
    # 13:05 in Boston (EDT, UTC-4) is 17:05 UTC
    assert reports["reported_at_utc"][0].astimezone(UTC).hour == 17
    assert message.startswith("row 4 of aid23.csv: reported_at_utc='2017-04-17 25:99'")
    # importing the same log again: same report ids, nothing counted twice
    import_tabular(boston_2017, log, "boston-2017", "reports")
    assert _count(boston_2017, "cramp_reports") == 2


def test_survey_export_imports_and_checks_onset_without_cramp(boston_2017, tmp_path):
    export = tmp_path / "survey.csv"
    header = ("Bib,Did you cramp during the race?,At which km did it start?,Which muscles?,Longest training run (km),"
              "Average weekly km,Strength training?,Plyometrics?,Target pace (s/km),Electrolyte drinks?,"
              "Heat acclimatised?,Cramped in earlier races?\n")
    export.write_text(
        header
        + "101,yes,36.5,calf,32,60,no,no,300,yes,no,yes\n"
        + "102,no,,,30,50,yes,no,330,no,no,no\n"
        + "103,no,12,calf,30,50,yes,no,330,no,no,no\n"
    )
    result = import_tabular(boston_2017, export, "boston-2017", "survey")
    assert (result.summary.accepted, result.summary.quarantined) == (2, 1)
    with open_writer(boston_2017.warehouse_path) as con:
        cramped = query(con, "SELECT bib, cramped, onset_km FROM survey_responses ORDER BY bib")
        message = scalar(con, "SELECT message FROM quarantine")
    assert cramped.rows() == [("101", True, 36.5), ("102", False, None)]
    assert "row 4 of survey.csv" in message and "onset_km" in message


def test_weather_observations_merge_by_source_location_and_time(boston_2017):
    obs = pl.DataFrame(
        {
            "source": ["station-x", "station-x"],
            "location": ["Boston", "Boston"],
            "observed_at_utc": [datetime(2017, 4, 17, 14, tzinfo=UTC)] * 2,
            "temp_c": [21.0, 22.0],
            "dew_point_c": [7.8, 7.8],
            "rh_pct": [None, None],
            "wind_m_s": [6.7, 6.7],
            "conditions": ["Partially cloudy"] * 2,
            "race_id": ["boston-2017"] * 2,
        }
    )
    landing.append_frame(boston_2017.landing_dir, "weather", obs, source="test")
    ingest_now(boston_2017)
    with open_writer(boston_2017.warehouse_path) as con:
        rows = query(con, "SELECT temp_c, interpolated, simulated FROM weather_observations")
    assert rows.rows() == [(22.0, False, False)]  # the later value for the same key wins


def test_a_failed_batch_stays_pending_and_leaves_nothing_behind(boston_2017, monkeypatch):
    from racecramp.warehouse import ingest as ingest_module

    landing.append_records(boston_2017.landing_dir, "reports", [_report()], source="s")
    real_upsert = ingest_module.upsert

    def failing_upsert(con, table, frame, keys):
        real_upsert(con, table, frame, keys)
        raise OSError("disk full while merging")

    monkeypatch.setattr(ingest_module, "upsert", failing_upsert)
    try:
        ingest_now(boston_2017)
    except OSError:
        pass
    else:
        raise AssertionError("the injected failure did not surface")
    monkeypatch.setattr(ingest_module, "upsert", real_upsert)
    assert _count(boston_2017, "cramp_reports") == 0
    assert _count(boston_2017, "landing_log") == 3  # only the race file's batches: race, course points, track
    ingest_now(boston_2017)
    assert _count(boston_2017, "cramp_reports") == 1


def _passing(bib: str, km: float = 5.0, point_id: str = "mat-05k") -> dict:
    return {"race_id": "boston-2017", "bib": bib, "point_id": point_id, "km": km, "net_time_s": 1650.0,
            "passed_at_utc": "2017-04-17T14:20:00+00:00", "simulated": True}


def _merged_state(settings) -> dict:
    with open_writer(settings.warehouse_path) as con:
        return {
            "passings": query(con, "SELECT * FROM stg_passings ORDER BY race_id, bib, point_id").rows(),
            "raw": query(con, "SELECT batch_id, row_in_batch, record FROM raw_records WHERE kind = 'passings' "
                              "ORDER BY batch_id, row_in_batch").rows(),
            "quarantine": query(con, "SELECT batch_id, row_in_batch, \"check\", message FROM quarantine "
                                     "ORDER BY batch_id, row_in_batch").rows(),
            "log": query(con, "SELECT batch_id, rows, accepted, quarantined FROM landing_log WHERE kind = 'passings' "
                              "ORDER BY batch_id").rows(),
        }


def _land_feed(settings) -> None:
    """Three timing-feed batches: a runner passing twice (the later batch wins), an off-course km."""
    landing.append_records(settings.landing_dir, "passings", [_passing("901"), _passing("902")], source="feed:a")
    landing.append_records(settings.landing_dir, "passings", [_passing("903"), _passing("904", km=99.0)], source="feed:b")
    landing.append_records(settings.landing_dir, "passings", [{**_passing("901"), "net_time_s": 1700.0}], source="feed:a")


def test_feed_batches_merged_together_leave_what_merging_them_one_by_one_leaves(race_day, race_day_template, tmp_path,
                                                                                 monkeypatch):
    import shutil

    from racecramp.config import load_settings
    from racecramp.warehouse import ingest

    shutil.copytree(race_day_template, tmp_path / "alone")
    alone = load_settings(data_dir=tmp_path / "alone")
    before = {p.name for p in (race_day.landing_dir / "passings").iterdir()}
    _land_feed(race_day)
    for path in sorted((race_day.landing_dir / "passings").iterdir()):  # the very same batch files over there
        if path.name not in before:
            shutil.copy2(path, alone.landing_dir / "passings" / path.name)

    groups: list[int] = []
    grouped = ingest.ingest_group
    monkeypatch.setattr(ingest, "ingest_group", lambda con, batches, context: groups.append(len(batches)) or grouped(con, batches, context))
    with open_writer(race_day.warehouse_path) as con:
        together = ingest.ingest_pending(con, race_day.landing_dir, rules=race_day.window_rules)
    assert groups == [3]
    monkeypatch.setattr(ingest, "MAX_GROUP_BATCHES", 1)
    with open_writer(alone.warehouse_path) as con:
        one_by_one = ingest.ingest_pending(con, alone.landing_dir, rules=alone.window_rules)
    assert groups == [3], "with groups of one, every batch is merged alone"

    assert together.batches == one_by_one.batches  # per batch: rows, accepted, quarantined, reasons
    assert [(b.rows, b.accepted, b.quarantined) for b in together.batches] == [(2, 2, 0), (2, 1, 1), (1, 1, 0)]
    state = _merged_state(race_day)
    assert state == _merged_state(alone)
    with open_writer(race_day.warehouse_path) as con:
        assert query(con, "SELECT net_time_s FROM stg_passings WHERE bib = '901'").item() == 1700.0  # the later batch won
    (quarantined,) = [row for row in state["quarantine"] if row[0] in {b.batch_id for b in together.batches}]
    assert quarantined[1] == 1 and "record 2 of batch" in quarantined[3] and "km=99" in quarantined[3]
