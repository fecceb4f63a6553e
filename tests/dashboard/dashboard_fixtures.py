"""Published snapshots for dashboard tests, the browser test and the benchmark.

`land_small_race` puts a hand-made race (11 runners, 8 reports, 3 weather readings, one bad
report) through the real landing -> ingest -> publish path, so the snapshots have exactly
the types the pipeline writes. `build_demo_race` uses the Boston 2017 demo data (optionally
replicated to N runners), cut at a mid-race "now", with simulated cramp reports drawn from
the hazard model, and recomputes the marts with marts.compute_marts (`publish_marts`).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from racecramp import landing
from racecramp.config import Settings
from racecramp.domain import MARATHON_KM, MUSCLE_GROUPS
from racecramp.landing.bulk import import_race, import_results, import_weather, ingest_now
from racecramp.landing.kinds import ANALYST_TABLES
from racecramp.marts.alerts import ACTION_SCHEMA
from racecramp.marts.build import compute_marts
from racecramp.marts.exposure import STATION_KINDS, exposure_by_point
from racecramp.marts.hazard import expected_presentations_per_runner, station_catchments
from racecramp.marts.heat import asof_weather, with_heat
from racecramp.marts.registry import ALERT_ACTIONS, LANDING_LOG, PREVIOUS_ALERTS, QUARANTINE
from racecramp.publish.snapshots import MANIFEST, snapshot_path, write_snapshot
from racecramp.views.shared import Snapshots

from paths import DATA  # noqa: E402

RACE = "boston-2017"
MATS_KM = {
    "mat-05k": 5.0, "mat-10k": 10.0, "mat-15k": 15.0, "mat-20k": 20.0, "mat-half": 21.0975,
    "mat-25k": 25.0, "mat-30k": 30.0, "mat-35k": 35.0, "mat-40k": 40.0, "finish": 42.195,
}

# --------------------------------------------------------------------------- the small race

# Wave 1 (bibs 101-7999) starts 10:00 EDT = 14:00 UTC; wave 2 (8000-15999) 10:25 EDT.
WAVE1_UTC = datetime(2017, 4, 17, 14, 0, tzinfo=UTC)
WAVE2_UTC = datetime(2017, 4, 17, 14, 25, tzinfo=UTC)
SMALL_NOW = datetime(2017, 4, 17, 16, 40, tzinfo=UTC)  # runner 102 finishes exactly then


def at(hh: int, mm: int) -> datetime:
    return datetime(2017, 4, 17, hh, mm, tzinfo=UTC)


# bib, sex, age, official (even-paced) net time s, declared finish s, stops at (report time)
SMALL_RUNNERS = [
    ("101", "M", 30, 9000.0, 9000.0, None),
    ("102", "F", 25, 9600.0, 9600.0, None),
    ("103", "M", 45, 10800.0, 10800.0, None),
    ("104", "F", 52, 12600.0, 12600.0, None),
    ("105", "M", 38, 14400.0, 14400.0, None),
    ("106", "F", 41, 14400.0, 14400.0, None),
    ("107", "M", 29, 16200.0, 16200.0, None),
    ("108", "X", 33, 18000.0, None, None),
    ("109", "M", 61, 12600.0, 12600.0, at(16, 0)),  # DNF at Aid 15 mi
    ("110", "F", 70, 14400.0, 14400.0, at(16, 20)),  # in the medical tent at Aid 15 mi
    ("8001", "M", 35, 12600.0, 12600.0, None),
]

REPORT_IDS = {name: f"00000000-0000-4000-8000-{i:012d}" for i, name in enumerate(
    ["R1", "R2", "R3", "R4", "R5", "R6", "R8", "R9", "BAD"], start=1)}

# name, bib, point_id, km, reported_at, severity, muscle, treatment, disposition, source, simulated
SMALL_REPORTS = [
    ("R1", "103", "aid-22mi", 35.406, at(16, 28), "mild", "calf", "stretch_massage", "returned_to_race", "aid_station", False),
    ("R2", None, "aid-16mi", 25.75, at(16, 35), "moderate", "hamstring", "stretch_massage", "returned_to_race", "aid_station", True),
    ("R3", "104", "aid-16mi", 25.75, at(16, 0), "mild", "hamstring", "stretch_massage", "returned_to_race", "aid_station", False),
    ("R4", "109", "aid-15mi", 24.14, at(16, 0), "severe", "calf", "iv_fluids", "dnf", "aid_station", False),
    ("R5", "110", "aid-15mi", 24.14, at(16, 20), "moderate", "quadriceps", "rest", None, "aid_station", False),
    ("R6", "101", "med-finish", 42.195, at(16, 32), "mild", "calf", "stretch_massage", "discharged", "finish_tent", False),
    ("R8", "105", "aid-07mi", 11.265, at(15, 5), "mild", "foot", "stretch_massage", "returned_to_race", "aid_station", False),
    ("R9", "103", "aid-19mi", 30.578, at(16, 11), "mild", "calf", "stretch_massage", "returned_to_race", "aid_station", False),
]

# What the command page must show for the small race, counted by hand (see SMALL_REPORTS):
# last 15 min (16:25, 16:40]: R1 16:28, R6 16:32, R2 16:35; last 60 min (15:40, 16:40]: all
# but R8 (15:05); cases: bibs 101, 103 (twice), 104, 105, 109, 110 = 6, plus R2 without bib.
SMALL_EXPECTED = {
    "reports_last_15m": 3,
    "reports_last_60m": 7,
    "reports_total": 8,
    "cases": 7,
    "runners": 11,  # the roster has runners who did not finish: per 1000 starters
    "cases_per_1000": 7 / 11 * 1000,
    "runners_on_course": 7,  # 103-108 and 8001
    "finishers": 2,  # 101, 102
    "in_medical": 1,  # 110
    "dnf": 1,  # 109
}
MED_FINISH_BEDS = 40

# Hourly METAR-like readings (°C); the 15:54 reading moves the flag from green to yellow.
SMALL_WEATHER = [
    (at(13, 54), 14.4, 4.0),
    (at(14, 54), 17.8, 5.0),
    (at(15, 54), 21.1, 6.1),
]


def _small_passings() -> list[dict]:
    rows = []
    for bib, _sex, _age, official_s, _declared, stops_at in SMALL_RUNNERS:
        start = WAVE2_UTC if bib == "8001" else WAVE1_UTC
        pace = official_s / MARATHON_KM
        last = min(SMALL_NOW, stops_at) if stops_at else SMALL_NOW
        for point_id, km in MATS_KM.items():
            net = round(km * pace, 1)
            passed = start + timedelta(seconds=net)
            if passed <= last:
                rows.append({"race_id": RACE, "bib": bib, "point_id": point_id, "km": km, "net_time_s": net,
                             "passed_at_utc": passed.isoformat(), "simulated": False})
    return rows


def _report_record(row: tuple) -> dict:
    name, bib, point_id, km, when, severity, muscle, treatment, disposition, source, simulated = row
    return {
        "report_id": REPORT_IDS[name], "race_id": RACE, "source": source, "simulated": simulated,
        "point_id": point_id, "km": km, "bib": bib, "reported_at_utc": when.isoformat(),
        "muscle_group": muscle, "severity": severity, "treatment": treatment, "disposition": disposition,
        "entered_by": point_id,
    }


def land_small_race(settings: Settings) -> None:
    """Land and ingest the small race (the race and course must already be imported)."""
    participants = [
        {"race_id": RACE, "bib": bib, "sex": sex, "age": age, "declared_finish_s": declared,
         "declared_is_synthetic": False, "finished": bib in ("101", "102"),
         "official_time_s": official if bib in ("101", "102") else None, "simulated": False}
        for bib, sex, age, official, declared, _stops in SMALL_RUNNERS
    ]
    landing.append_records(settings.landing_dir, "participants", participants, source="dashboard-fixture")
    landing.append_records(settings.landing_dir, "passings", _small_passings(), source="dashboard-fixture")
    reports = [_report_record(r) for r in SMALL_REPORTS]
    landing.append_records(settings.landing_dir, "reports", reports, source="dashboard-fixture")
    # A retry of R1 (same report_id, same contents) and a report with an impossible severity.
    bad = dict(_report_record(SMALL_REPORTS[0]), report_id=REPORT_IDS["BAD"], severity="extreme")
    landing.append_records(settings.landing_dir, "reports", [reports[0], bad], source="dashboard-fixture")
    weather = [
        {"source": "iem-asos:KBOS", "location": "KBOS", "observed_at_utc": when.isoformat(), "temp_c": t,
         "dew_point_c": td, "rh_pct": None, "wind_m_s": 3.0, "conditions": "FEW250", "race_id": RACE,
         "interpolated": False, "simulated": False}
        for when, t, td in SMALL_WEATHER
    ]
    landing.append_records(settings.landing_dir, "weather", weather, source="dashboard-fixture")
    med = {"race_id": RACE, "point_id": "med-finish", "kind": "medical_tent", "km": 42.195,
           "label": "Finish medical tents", "beds": MED_FINISH_BEDS, "position_source": "dashboard fixture"}
    landing.append_records(settings.landing_dir, "course_points", [med], source="dashboard-fixture")
    ingest_now(settings)


def small_race(settings: Settings) -> Snapshots:
    """The small race published by the real pipeline; its stale_weather alert acknowledged via landing."""
    import_race(settings, DATA / "races" / f"{RACE}.toml")
    land_small_race(settings)
    snaps = Snapshots(settings.snapshot_dir)
    stale = snaps.table("alerts").filter(pl.col("rule") == "stale_weather")["alert_id"].to_list()
    actions = [{"alert_id": a, "action": "acknowledge", "by": "dr-fixture", "at_utc": SMALL_NOW.isoformat()} for a in stale]
    if actions:
        landing.append_records(settings.landing_dir, "alert_actions", actions, source="dashboard-fixture")
        ingest_now(settings)
    return snaps


# --------------------------------------------------------------------------- marts


def publish_marts(settings: Settings, wall_utc: datetime) -> dict[str, pl.DataFrame]:
    """Recompute every mart from the published analyst snapshots with marts.compute_marts.

    Used after a fixture rewrites snapshots directly (the demo race cut at a mid-race "now"):
    the marts then describe the same moment. No alert actions, no previous alerts.
    """
    snaps = Snapshots(settings.snapshot_dir)
    inputs = {name: snaps.table(name) for name in ANALYST_TABLES if name != QUARANTINE}
    inputs[QUARANTINE] = snaps.table(QUARANTINE).select("landed_at_utc", "source", "check", "message", "batch_id")
    inputs[LANDING_LOG] = pl.DataFrame(schema={"landed_at_utc": pl.Datetime("us", "UTC"), "record_count": pl.Int64})
    inputs[ALERT_ACTIONS] = pl.DataFrame(schema=ACTION_SCHEMA)
    inputs[PREVIOUS_ALERTS] = None
    marts = compute_marts(inputs, wall_utc=wall_utc, stale_after_s=settings.weather_stale_after_s)
    for name, frame in marts.items():
        write_snapshot(frame, snapshot_path(settings.snapshot_dir, name))
    return marts


# --------------------------------------------------------------------------- the demo race


def write_manifest_now(snapshot_dir: Path, counts: dict[str, int], last_ingest_utc: datetime | None = None) -> None:
    """A manifest as the publisher writes it (published now unless told otherwise)."""
    now = datetime.now(UTC)
    manifest = {
        "published_at_utc": now.isoformat(),
        "last_ingest_utc": (last_ingest_utc or now).isoformat(),
        "batches_ingested": counts.pop("_batches", 0),
        "tables": sorted(set(ANALYST_TABLES)),
        "counts": counts,
    }
    path = Path(snapshot_dir) / MANIFEST
    tmp = path.with_name(f".{MANIFEST}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, path)


def _replicate(participants: pl.DataFrame, passings: pl.DataFrame, target: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Copies of the field with bibs '<bib>-<k>' until there are `target` runners (benchmark scale)."""
    copies = -(-target // participants.height)
    people, splits = [participants], [passings]
    for k in range(1, copies):
        suffix = pl.col("bib") + f"-{k}"
        people.append(participants.with_columns(suffix.alias("bib")))
        splits.append(passings.with_columns(suffix.alias("bib")))
    people_all = pl.concat(people).head(target)
    keep = people_all.select("race_id", "bib")
    return people_all, pl.concat(splits).join(keep, on=["race_id", "bib"], how="semi")


def simulated_reports(now_utc: datetime, passings: pl.DataFrame, participants: pl.DataFrame,
                      course: pl.DataFrame, heat: pl.DataFrame, seed: int, hazard_scale: float = 1.0) -> pl.DataFrame:
    """Cramp reports drawn from the hazard model for every station passing up to now (simulated)."""
    rng = np.random.default_rng(seed)
    exposure = exposure_by_point(passings, participants, course).collect()
    stations = station_catchments(course).select("point_id", "catchment_km", "receives_finish_share")
    passes = (
        exposure.filter(pl.col("kind").is_in(STATION_KINDS))
        .join(stations, on="point_id", how="inner")
        .join(participants.select("bib", "declared_finish_s"), on="bib", how="left")
        .with_columns(
            relative_pace=pl.when(pl.col("km") > 0).then(
                (pl.col("net_time_s") / pl.col("km")) / (pl.col("declared_finish_s") / MARATHON_KM)
            ).otherwise(1.0).fill_null(1.0)
        )
    )
    passes = asof_weather(passes.lazy(), heat.lazy(), "passed_at_utc", by="race_id").collect()
    passes = passes.with_columns(
        expected=expected_presentations_per_runner("km", "relative_pace", "wbgt_c", "catchment_km",
                                                   "receives_finish_share") * hazard_scale
    ).sort("race_id", "bib", "km", "point_id")
    drawn = passes.filter(pl.Series(rng.random(passes.height) < passes["expected"].fill_null(0).to_numpy()))
    n = drawn.height
    delay_s = rng.uniform(60, 600, n)
    muscles = rng.choice(["calf", "calf", "calf", "hamstring", "quadriceps", "foot"], n)
    severity = rng.choice(["mild", "mild", "moderate", "severe"], n)
    disposition = rng.choice(["returned_to_race"] * 6 + ["dnf", "transported", "discharged"], n)
    reports = drawn.select(
        "race_id", "point_id", "km", "bib", "kind",
        (pl.col("passed_at_utc") + pl.Series(np.round(delay_s * 1e6).astype("int64")).cast(pl.Duration("us"))).alias("reported_at_utc"),
    ).with_columns(
        pl.Series("report_id", [f"{int(x):08x}-0000-4000-8000-{i:012d}" for i, x in enumerate(rng.integers(0, 2**32, n))]),
        pl.when(pl.col("kind") == "medical_tent").then(pl.lit("finish_tent")).otherwise(pl.lit("aid_station")).alias("source"),
        pl.lit(True).alias("simulated"),
        pl.Series("muscle_group", muscles if n else [], dtype=pl.String),
        pl.Series("severity", severity if n else [], dtype=pl.String),
        pl.lit("stretch_massage").alias("treatment"),
        pl.Series("disposition", disposition if n else [], dtype=pl.String),
        pl.col("point_id").alias("entered_by"),
    )
    # The last few minutes: runners still being treated (no disposition yet).
    reports = reports.with_columns(
        pl.when(pl.col("reported_at_utc") > now_utc - timedelta(minutes=10)).then(None)
        .otherwise(pl.col("disposition")).alias("disposition")
    ).filter(pl.col("reported_at_utc") <= now_utc)
    assert set(reports["muscle_group"].unique().to_list()) <= set(MUSCLE_GROUPS)
    return reports.select(
        "report_id", "race_id", "source", "simulated", "point_id", "km", "bib", "reported_at_utc",
        "muscle_group", "severity", "treatment", "disposition", "entered_by",
    )


def build_demo_race(settings: Settings, now_utc: datetime, runners: int | None = None, seed: int = 2017,
                    hazard_scale: float = 3.0) -> Snapshots:
    """Boston 2017 (demo data) as it stood at now_utc, with simulated cramp reports and every mart.

    runners: replicate the field to this many runners (benchmark scale); None keeps 26,410.
    hazard_scale: multiplies the hazard model so the screenshots have something to show.
    """
    import_race(settings, DATA / "races" / f"{RACE}.toml")
    import_results(settings, DATA / RACE / "results.csv", RACE)
    import_weather(settings, DATA / "weather" / "boston_hourly.csv", RACE)
    # One report typed with an impossible km, so the quarantine has something to show.
    bad = {"report_id": "00000000-0000-4000-8000-0000000000aa", "race_id": RACE, "source": "aid_station",
           "simulated": True, "point_id": "aid-20mi", "km": 320.187, "bib": "1017",
           "reported_at_utc": (now_utc - timedelta(minutes=3)).isoformat(), "muscle_group": "calf",
           "severity": "mild", "treatment": "stretch_massage", "disposition": None, "entered_by": "aid-20mi"}
    landing.append_records(settings.landing_dir, "reports", [bad], source="tablet-aid-20mi")
    ingest_now(settings)
    snaps = Snapshots(settings.snapshot_dir)
    # Snapshot row order is whatever DuckDB wrote; sort so replication and draws are reproducible.
    participants = snaps.table("participants").sort("race_id", "bib")
    passings = snaps.table("passings").sort("race_id", "bib", "km")
    if runners is not None:
        participants, passings = _replicate(participants, passings, runners)
    from racecramp.simulate.declared import synthesise_declared_finish

    participants = synthesise_declared_finish(participants, passings, seed=seed).with_columns(
        pl.lit(False).alias("finished"), pl.lit(None, dtype=pl.Float64).alias("official_time_s")
    ).select(snaps.table("participants").columns)
    passings = passings.filter(pl.col("passed_at_utc") <= now_utc)
    weather = snaps.table("weather_observations").filter(pl.col("observed_at_utc") <= now_utc)
    course = snaps.table("course_points").filter(pl.col("race_id") == RACE)
    heat = with_heat(weather.lazy()).collect()
    reports = simulated_reports(now_utc, passings, participants, course, heat, seed, hazard_scale)
    write_snapshot(participants, snapshot_path(settings.snapshot_dir, "participants"))
    write_snapshot(passings, snapshot_path(settings.snapshot_dir, "passings"))
    write_snapshot(weather, snapshot_path(settings.snapshot_dir, "weather_observations"))
    write_snapshot(reports, snapshot_path(settings.snapshot_dir, "cramp_reports"))
    publish_marts(settings, wall_utc=now_utc)
    write_manifest_now(settings.snapshot_dir, {
        "participants": participants.height, "passings": passings.height, "cramp_reports": reports.height,
        "weather_observations": weather.height, "_batches": len(landing.list_batches(settings.landing_dir)),
    })
    return snaps
