"""The simulated race's frames and the replay event stream: determinism, order, labels."""

from __future__ import annotations

import re

import json
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from racecramp.landing.kinds import KINDS
from racecramp.marts.hazard import HazardParams
from racecramp.simulate.cramp_model import CrampModelParams
from racecramp.simulate.stream import SIMULATED_REPORT_NAMESPACE, canonical_event_json, event_stream, simulate_race, stream_digest

UTC_US = pl.Datetime("us", "UTC")
RACE = "test-2030"
GUN = datetime(2030, 4, 15, 14, 0, tzinfo=UTC)
MATS = [("mat-10k", 10.0), ("mat-half", 21.0975), ("mat-30k", 30.0), ("mat-40k", 40.0), ("finish", 42.195)]
# Generous cramp and presentation rates so a small field produces reports to look at.
BUSY = CrampModelParams(
    reference_cramp_risk=0.4,
    hazard=HazardParams(presentations_per_1000_starters=300.0),
)


def course_points() -> pl.DataFrame:
    rows = [(RACE, pid, "timing_mat" if pid != "finish" else "finish", km, pid) for pid, km in MATS]
    rows += [(RACE, "aid-15k", "aid_station", 15.0, "Aid 15K"), (RACE, "aid-35k", "aid_station", 35.0, "Aid 35K"),
             (RACE, "med-finish", "medical_tent", 42.195, "Finish tent")]
    return pl.DataFrame(rows, schema=["race_id", "point_id", "kind", "km", "label"], orient="row")


def small_race(n: int = 300, seed: int = 4) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """n runners (every 10th does not finish: last seen at 30 km) and two hours of weather."""
    rng = np.random.default_rng(seed)
    pace = rng.uniform(250.0, 400.0, n)
    kms = np.array([km for _, km in MATS])
    slow = np.where(kms > 30.0, 1.3, 1.0)
    net = np.round(pace[:, None] * kms[None, :] * slow[None, :])
    bibs = [str(100 + i) for i in range(n)]
    finished = np.arange(n) % 10 != 0
    participants = pl.DataFrame(
        {
            "race_id": RACE,
            "bib": bibs,
            "sex": ["F", "M"] * (n // 2),
            "age": rng.integers(20, 70, n).astype(np.int32),
            "wave": np.ones(n, dtype=np.int32),
            "wave_start_utc": [GUN] * n,
            "finished": finished,
            "official_time_s": np.where(finished, net[:, -1], np.nan),
        },
        schema_overrides={"wave_start_utc": UTC_US},
    ).with_columns(pl.col("official_time_s").fill_nan(None))
    passings = (
        pl.DataFrame(
            {
                "race_id": RACE,
                "bib": np.repeat(bibs, len(kms)),
                "point_id": [pid for pid, _ in MATS] * n,
                "km": np.tile(kms, n),
                "net_time_s": net.ravel(),
                "_finished": np.repeat(finished, len(kms)),
            }
        )
        .filter(pl.col("_finished") | (pl.col("km") <= 30.0))
        .drop("_finished")
        .with_columns((pl.lit(GUN).cast(UTC_US) + pl.duration(seconds=pl.col("net_time_s"))).alias("passed_at_utc"))
    )
    hours = [GUN + timedelta(hours=h) for h in range(-2, 6)]
    temps = [8.0, 10.0, 16.0, 18.0, 20.0, 21.0, 22.0, 22.0]
    weather = pl.DataFrame(
        {"source": "visualcrossing", "location": "Testville, MA", "observed_at_utc": hours, "temp_c": temps,
         "dew_point_c": [2.0] * 8, "rh_pct": [60.0] * 8, "wind_m_s": [3.0] * 8, "conditions": ["Clear"] * 8,
         "race_id": RACE, "interpolated": False, "simulated": False, "wbgt_c": [t - 2.0 for t in temps]},
        schema_overrides={"observed_at_utc": UTC_US},
    )
    return participants, passings, weather


@pytest.fixture(scope="module")
def race():
    participants, passings, weather = small_race()
    sim = simulate_race(participants, passings, course_points(), weather, seed=42, params=BUSY)
    return sim, passings, weather, event_stream(sim, passings, weather)


def test_the_same_seed_gives_a_byte_identical_stream_and_another_seed_a_different_one(race):
    sim, passings, weather, events = race
    participants, passings, weather = small_race()
    again = simulate_race(participants, passings, course_points(), weather, seed=42, params=BUSY)
    other = simulate_race(participants, passings, course_points(), weather, seed=43, params=BUSY)
    digest = stream_digest(events)
    assert stream_digest(event_stream(again, passings, weather)) == digest
    assert stream_digest(event_stream(other, passings, weather)) != digest
    assert len(digest) == 64 and int(digest, 16) >= 0


def test_the_stream_does_not_depend_on_the_order_of_the_input_rows(race):
    _, _, _, events = race
    participants, passings, weather = small_race()
    shuffled = simulate_race(
        participants.sample(fraction=1.0, shuffle=True, seed=1),
        passings.sample(fraction=1.0, shuffle=True, seed=2),
        course_points().reverse(),
        weather.reverse(),
        seed=42,
        params=BUSY,
    )
    assert stream_digest(event_stream(shuffled, passings.reverse(), weather.reverse())) == stream_digest(events)


def test_the_digest_changes_when_one_field_of_one_record_changes(race):
    _, _, _, events = race
    emit, kind, record = events[len(events) // 2]
    changed = list(events)
    changed[len(events) // 2] = (emit, kind, {**record, "simulated": False})
    assert stream_digest(changed) != stream_digest(events)
    assert stream_digest(list(reversed(events))) != stream_digest(events)


def test_events_are_sorted_by_time_then_kind_and_the_roster_comes_first(race):
    sim, _, _, events = race
    keys = [(emit, kind) for emit, kind, _ in events]
    assert keys == sorted(keys)
    roster = [e for e in events if e[1] == "participants"]
    assert len(roster) == sim.participants.height == 300
    first_passing = min(e[0] for e in events if e[1] == "passings")
    assert all(emit == GUN - timedelta(hours=1) < first_passing for emit, _, _ in roster)


def test_every_event_is_a_landing_kind_with_exactly_its_columns_and_is_labelled_simulated(race):
    _, passings, _, events = race
    kinds = {kind for _, kind, _ in events}
    assert kinds == {"participants", "passings", "weather", "reports", "survey"}
    assert kinds <= set(KINDS)
    for _, kind, record in events:
        assert list(record) == list(KINDS[kind].sent_schema)
        assert record["simulated"] is True
    assert sum(kind == "passings" for _, kind, _ in events) == passings.height
    json.loads(canonical_event_json(events[0]))  # plain JSON, no NaN


def test_participants_carry_a_synthetic_declared_time(race):
    sim, _, _, _ = race
    assert sim.participants["declared_is_synthetic"].all()
    assert sim.participants["simulated"].all()
    assert sim.participants["declared_finish_s"].null_count() == 0


def test_weather_is_sent_every_ten_minutes_interpolated_between_real_hours_and_labelled(race):
    _, _, _, events = race
    weather = [record for _, kind, record in events if kind == "weather"]
    stamps = [datetime.fromisoformat(r["observed_at_utc"]) for r in weather]
    assert all(b - a == timedelta(minutes=10) for a, b in zip(stamps, stamps[1:]))
    by_time = {datetime.fromisoformat(r["observed_at_utc"]): r for r in weather}
    on_the_hour = by_time[GUN]
    assert on_the_hour["interpolated"] is False and on_the_hour["temp_c"] == 16.0
    ten_past = by_time[GUN + timedelta(minutes=10)]  # 16 °C at the gun, 18 °C an hour later
    assert ten_past["interpolated"] is True
    assert ten_past["temp_c"] == pytest.approx(16.0 + 2.0 / 6, abs=1e-3)
    assert {r["source"] for r in weather} == {"replay"} and {r["race_id"] for r in weather} == {RACE}
    assert stamps[0] >= GUN - timedelta(hours=1)


def test_report_ids_are_stable_uuid5_of_race_seed_bib_and_km(race):
    sim, _, _, _ = race
    reports = sim.cramp_reports
    assert reports.height > 10
    assert reports["report_id"].n_unique() == reports.height
    for row in reports.iter_rows(named=True):
        assert row["report_id"] == str(uuid.uuid5(SIMULATED_REPORT_NAMESPACE, f"{RACE}|42|{row['bib']}|{row['km']:.4f}"))


def test_reports_come_when_the_runner_reaches_the_station(race):
    sim, passings, _, events = race
    reports = sim.cramp_reports.join(sim.runners.select("bib", "onset_km", "finished"), on="bib")
    finish = passings.filter(pl.col("point_id") == "finish").select("bib", pl.col("passed_at_utc").alias("finish_at"))
    at_tent = reports.filter(pl.col("source") == "finish_tent").join(finish, on="bib")
    delay = (at_tent["reported_at_utc"] - at_tent["finish_at"]).dt.total_seconds()
    assert at_tent.height > 0 and delay.min() >= 300 and delay.max() <= 1800
    on_course = reports.filter(pl.col("source") == "aid_station")
    assert on_course.height > 0
    assert (on_course["km"] >= on_course["onset_km"]).all()
    # The 15 km aid station lies between the 10K mat and the half: time interpolated linearly.
    at_15 = on_course.filter(pl.col("point_id") == "aid-15k").row(0, named=True)
    mats = passings.filter(pl.col("bib") == at_15["bib"]).sort("km")
    t10, t21 = mats["net_time_s"][0], mats["net_time_s"][1]
    expected = GUN + timedelta(seconds=t10 + (t21 - t10) * 5.0 / 11.0975)
    assert abs((at_15["reported_at_utc"] - expected).total_seconds()) <= 0.5
    report_events = [(emit, r) for emit, kind, r in events if kind == "reports"]
    assert all(emit == datetime.fromisoformat(r["reported_at_utc"]) for emit, r in report_events)


def test_dispositions_follow_the_real_outcome(race):
    sim, _, _, _ = race
    reports = sim.cramp_reports.join(sim.runners.select("bib", "finished"), on="bib")
    on_course_finishers = reports.filter((pl.col("source") == "aid_station") & pl.col("finished"))
    assert set(on_course_finishers["disposition"]) == {"returned_to_race"}
    non_finishers = reports.filter(~pl.col("finished"))
    assert non_finishers.height > 0 and set(non_finishers["disposition"]) <= {"dnf", "transported"}
    assert set(reports.filter(pl.col("source") == "finish_tent")["disposition"]) <= {"discharged", "transported"}


def test_survey_answers_come_from_finishers_half_an_hour_after_their_finish(race):
    sim, passings, _, events = race
    survey = sim.survey_responses
    finishers = set(sim.participants.filter(pl.col("finished"))["bib"])
    assert survey.height > 0 and set(survey["bib"]) <= finishers
    assert survey.filter(~pl.col("cramped"))["onset_km"].null_count() == survey.filter(~pl.col("cramped")).height
    assert survey.filter(pl.col("cramped"))["muscles"].null_count() == 0
    assert survey["simulated"].all()
    finish = dict(passings.filter(pl.col("point_id") == "finish").select("bib", "passed_at_utc").iter_rows())
    for emit, kind, record in events:
        if kind == "survey":
            assert emit == finish[record["bib"]] + timedelta(minutes=30)


def test_a_race_with_two_race_ids_is_refused():
    participants, passings, weather = small_race(20)
    mixed = participants.with_columns(pl.when(pl.col("bib") == "100").then(pl.lit("other-2030")).otherwise(pl.col("race_id")).alias("race_id"))
    with pytest.raises(ValueError, match="race_id has 2 distinct values"):
        simulate_race(mixed, passings, course_points(), weather, seed=1)


def test_every_event_the_replay_posts_passes_the_intakes_models(race):
    """The replay is a feed like any other: a file's place name goes out as a code, every field
    as the intake's request models take it (a model refusing one is a 422 mid-drill)."""
    from racecramp.intake.models import PassingBatch, ParticipantBatch, ReportBatch, WeatherBatch
    from racecramp.simulate.replay import ENDPOINT

    models = {"participants": ParticipantBatch, "passings": PassingBatch, "weather": WeatherBatch, "reports": ReportBatch}
    _, _, _, events = race
    for kind, model in models.items():
        records = [record for _, k, record in events if k == kind]
        assert records, kind
        model.model_validate({ENDPOINT[kind][1]: records})
    assert {r["location"] for _, k, r in events if k == "weather"} == {"testville-ma"}


def test_a_place_name_becomes_a_code():
    from racecramp.domain import CODE_PATTERN, place_code

    assert place_code("Boston, MA") == "boston-ma" and place_code("  Zürich HB ") == "z-rich-hb"
    assert re.fullmatch(CODE_PATTERN, place_code("Hopkinton, Massachusetts (start line)"))
    with pytest.raises(ValueError, match="no letters or digits"):
        place_code(" , ")
