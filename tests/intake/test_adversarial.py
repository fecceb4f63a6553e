"""Hostile and careless input, endpoint by endpoint: each gets its answer and nothing is stored;
afterwards no table (quarantine and raw records included) holds any personal value sent.

The table is beside schemathesis (which looks for 5xx): here each row names what a volunteer's
lost tablet, a misconfigured feed, a curious visitor or a typo sends, and what must come back.
"""

from __future__ import annotations

import csv
import uuid

import polars as pl
import pytest

from racecramp.landing.bulk import import_race, import_results, import_tabular
from racecramp.warehouse.ingest import ingest_pending
from racecramp.warehouse.sql import query
from racecramp.warehouse.writer import open_writer

from intake_kit import RACE_ID, TOKENS, bearer, landed, report
from paths import DATA

# Values that must never be stored anywhere: names, markup, formulas.
NAME = "Jane Q Doe"
PERSONAL = (NAME, "Smith, John", "Mary Major", "Doe", "=HYPERLINK(\"http://evil.example\")", "<script>alert(1)</script>",
            "Dr Ada Lovelace")

PASSING = {"race_id": RACE_ID, "bib": "8123", "point_id": "mat-10k", "net_time_s": 2400.0}
WEATHER = {"source": "open-meteo", "location": "Hopkinton", "observed_at_utc": "2017-04-17T14:00:00Z", "temp_c": 21.5}

CASES = [
    # (id, method, path, principal, json body, expected status, words in the answer)
    ("report-name-as-bib", "post", "/v1/reports", "station:boston-2017:aid-05mi", report(bib=NAME), 422, "bib=<masked: 10 characters>"),
    ("report-formula-bib", "post", "/v1/reports", "station:boston-2017:aid-05mi", report(bib=PERSONAL[4]), 422, "expected a bib code"),
    ("report-markup-bib", "post", "/v1/reports", "command", report(bib=PERSONAL[5]), 422, "bib=<masked"),
    ("report-typed-entered-by", "post", "/v1/reports", "station:boston-2017:aid-05mi", report(entered_by=PERSONAL[6]), 422, "Extra inputs"),
    ("report-year-typo", "post", "/v1/reports", "station:boston-2017:aid-05mi", report(reported_at_utc="2071-04-17T15:42:00Z"), 422,
     "outside boston-2017's window"),
    ("report-other-station", "post", "/v1/reports", "station:boston-2017:aid-05mi", report("aid-06mi"), 403, "aid-05mi"),
    ("report-other-race", "post", "/v1/reports", "station:boston-2017:aid-05mi", report(race_id="boston-2018"), 403,
     "belongs to race 'boston-2017'"),
    ("alert-action-unknown-alert", "post", "/v1/alerts/some-alert/actions", "command", {"action": "acknowledge"}, 404,
     "alert_id='some-alert'"),
    ("report-no-token", "post", "/v1/reports", None, report(), 401, "bearer"),
    ("report-wrong-token", "post", "/v1/reports", "nobody", report(), 401, "not recognised"),
    ("report-unknown-race", "post", "/v1/reports", "command", report(race_id="boston-1897"), 422, "no such race"),
    ("report-bad-correction", "post", "/v1/reports", "command", report(supersedes_report_id="not-a-uuid"), 422, "UUID"),
    ("passing-name-as-bib", "post", "/v1/passings", "feed:timing:boston-2017", {"passings": [dict(PASSING, bib=PERSONAL[1])]}, 422,
     "bib=<masked: 11 characters>"),
    ("passing-from-a-station", "post", "/v1/passings", "station:boston-2017:aid-05mi", {"passings": [PASSING]}, 403, "feed:timing:<race_id>"),
    ("passing-year-typo", "post", "/v1/passings", "feed:timing:boston-2017",
     {"passings": [dict(PASSING, passed_at_utc="1917-04-17T14:00:00Z")]}, 422, "outside boston-2017's window"),
    ("participant-name-as-bib", "post", "/v1/participants", "feed:timing:boston-2017",
     {"participants": [{"race_id": RACE_ID, "bib": PERSONAL[2]}]}, 422, "bib=<masked"),
    ("weather-name-as-location", "post", "/v1/weather", "feed:weather:boston-2017", dict(WEATHER, location=NAME), 422,
     "location=<masked: 10 characters>"),
    ("weather-markup-source", "post", "/v1/weather", "feed:weather:boston-2017", dict(WEATHER, source=PERSONAL[5]), 422, "source=<masked"),
    ("weather-year-typo", "post", "/v1/weather", "feed:weather:boston-2017", dict(WEATHER, observed_at_utc="2071-04-17T14:00:00Z"), 422,
     "after the receiver's clock"),
    ("alert-action-typed-name", "post", "/v1/alerts/some-alert/actions", "command", {"action": "acknowledge", "by": NAME},
     422, "by=<masked"),
    ("alert-action-from-a-feed", "post", "/v1/alerts/some-alert/actions", "feed:weather:boston-2017", {"action": "resolve"}, 403,
     "expected command"),
    ("close-typed-name", "post", f"/v1/races/{RACE_ID}/close", "command", {"by": PERSONAL[6]}, 422, "by=<masked"),
    ("close-from-a-station", "post", f"/v1/races/{RACE_ID}/close", "station:boston-2017:aid-05mi", {}, 403, "expected command"),
]


def _shown(text: str) -> bool:
    return any(value in text for value in PERSONAL)


@pytest.mark.parametrize(("case", "method", "path", "principal", "body", "status", "words"), CASES,
                         ids=[c[0] for c in CASES])
def test_hostile_input_gets_its_answer_and_nothing_is_stored(client, intake_settings, case, method, path, principal,
                                                             body, status, words):
    headers = {} if principal is None else (bearer(principal) if principal in TOKENS else {"Authorization": "Bearer forged"})
    response = getattr(client, method)(path, json=body, headers=headers)
    assert response.status_code == status, response.text
    assert words in response.text, response.text
    assert not _shown(response.text), "a personal value is echoed in the answer"
    assert landed(intake_settings.landing_dir) == []


def test_a_survey_upload_with_a_name_in_a_field_is_refused_before_it_lands(client, intake_settings):
    csv = f"race_id,bib,cramped,muscles\n{RACE_ID},8123,true,calf\n{RACE_ID},8124,true,{NAME}\n"
    response = client.post("/v1/survey", files={"file": ("survey.csv", csv, "text/csv")}, headers=bearer("feed:survey:boston-2017"))
    assert response.status_code == 422 and "row 3" in response.text and "muscles=<masked" in response.text
    assert not _shown(response.text) and landed(intake_settings.landing_dir) == []


def test_muscles_a_survey_tool_writes_its_own_way_are_read_as_the_known_groups(client, intake_settings, kit):
    csv = f"race_id,bib,cramped,muscles\n{RACE_ID},8123,true,Calves; Hamstrings\n"
    response = client.post("/v1/survey", files={"file": ("survey.csv", csv, "text/csv")}, headers=bearer("feed:survey:boston-2017"))
    assert response.status_code == 202, response.text
    (path,) = landed(intake_settings.landing_dir, "survey")
    assert [r["muscles"] for r in kit.landed_records(path)] == ["calf,hamstring"]


def _scan_for_personal_values(settings) -> list[tuple[str, str, str]]:
    """(table, column, value) of every string cell of every table that holds one of PERSONAL."""
    found = []
    with open_writer(settings.warehouse_path) as con:
        tables = query(con, "SELECT table_name FROM duckdb_tables()")["table_name"].to_list()
        for table in tables:
            columns = query(con, f"SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = '{table}'")
            for column, dtype in columns.iter_rows():
                if dtype in ("VARCHAR", "JSON") or dtype.endswith("[]") or dtype.startswith("STRUCT"):
                    values = query(con, f'SELECT DISTINCT CAST("{column}" AS VARCHAR) AS v FROM {table}')["v"].drop_nulls()
                    found += [(table, column, v) for v in values.to_list() if _shown(v)]
    return found


def test_bulk_files_with_names_where_codes_belong_leave_no_trace_in_any_table(intake_settings, tmp_path):
    import_race(intake_settings, DATA / "races" / "boston-2017.toml", ingest=False)
    with open(DATA / "boston-2017" / "results.csv", newline="") as fh:
        header, *rows = list(csv.reader(fh))[:4]
    rows[1][0], rows[2][0] = PERSONAL[1], PERSONAL[2]  # names typed into the bib column
    results = tmp_path / "results-with-names.csv"
    with open(results, "w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    log = tmp_path / "aid23.csv"
    log.write_text("Report ID,Time,Station,Km,Bib,Muscle,Severity,Treatment,Outcome\n"
                   f"{uuid.uuid4()},2017-04-17 13:05,aid-23mi,37.0,8123,calf,mild,rest,back in race\n"
                   f"{uuid.uuid4()},2017-04-17 13:06,aid-23mi,37.0,{NAME},calf,mild,rest,back in race\n"
                   f"{uuid.uuid4()},2017-04-17 13:07,aid-23mi,37.0,{PERSONAL[4].replace(chr(34), '')},calf,mild,rest,back in race\n")
    survey = tmp_path / "survey.csv"
    rest = "32,60,no,no,300,yes,no,yes"  # longest run, weekly km, strength, plyometrics, pace, electrolytes, heat, prior
    survey.write_text("Bib,Did you cramp during the race?,At which km did it start?,Which muscles?,Longest training run (km),"
                      "Average weekly km,Strength training?,Plyometrics?,Target pace (s/km),Electrolyte drinks?,"
                      "Heat acclimatised?,Cramped in earlier races?\n"
                      f"101,yes,36.5,calf,{rest}\n{NAME},yes,30,calf,{rest}\n102,yes,30,{PERSONAL[6]},{rest}\n")
    import_results(intake_settings, results, RACE_ID, ingest=False)
    import_tabular(intake_settings, log, RACE_ID, "reports", ingest=False)
    import_tabular(intake_settings, survey, RACE_ID, "survey", ingest=False)
    with open_writer(intake_settings.warehouse_path) as con:
        summary = ingest_pending(con, intake_settings.landing_dir)
        quarantine = query(con, 'SELECT "column", message, record FROM quarantine')
    assert summary.quarantined >= 5, quarantine
    assert set(quarantine["column"]) >= {"bib", "muscles"}
    assert all("masked" in m for m in quarantine.filter(pl.col("column").is_in(["bib", "muscles"]))["message"])
    assert _scan_for_personal_values(intake_settings) == []
    # and nothing of them in the landing zone either: the readers masked them before landing
    for path in landed(intake_settings.landing_dir):
        text = path.read_bytes().decode("utf-8", "replace")
        assert not _shown(text), path
