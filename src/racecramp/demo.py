"""`racecramp demo`: load the shipped Boston 2017 and 2018 data, plant SIMULATED cramp
reports and survey answers with the documented model, publish every mart, and start the
stack so the dashboard has something to show.

This is a bulk demo of a finished race, not the live 60x replay (issue 4 item 1, not built
yet): everything goes through landing -> validation -> the single writer like any import.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from racecramp import landing
from racecramp.config import Settings
from racecramp.imports import import_race, import_results, import_weather, ingest_now
from racecramp.marts import load_inputs
from racecramp.warehouse import open_writer

DATA = Path(__file__).resolve().parents[2] / "data"
DEMO_RACES = ("boston-2017", "boston-2018")
DEMO_SEED = 2017


def load_demo(settings: Settings, say=print) -> None:
    """Import the demo races and land their simulated cramp reports and surveys."""
    from racecramp.simulate.events import simulate_race
    from racecramp.transforms.heat import with_heat

    for race_id in DEMO_RACES:
        say(f"importing {race_id} (race, results, weather) ...")
        import_race(settings, DATA / "races" / f"{race_id}.toml", ingest=False)
        import_results(settings, DATA / race_id / "results.csv", race_id, ingest=False)
        import_weather(settings, DATA / "weather" / "boston_hourly.csv", race_id, ingest=False)
    ingest_now(settings)
    for race_id in DEMO_RACES:
        with open_writer(settings.warehouse_path) as con:
            inputs = load_inputs(con, race_id)
        weather = with_heat(inputs["weather_observations"].filter(pl.col("race_id") == race_id).lazy()).collect()
        course = inputs["course_points"].with_columns(pl.col("km").cast(pl.Float64))
        sim = simulate_race(inputs["participants"], inputs["passings"], course, weather, seed=DEMO_SEED)
        say(f"{race_id}: {sim.cramp_reports.height} SIMULATED cramp reports, {sim.survey_responses.height} SIMULATED survey answers")
        declared = sim.participants.with_columns(pl.lit(False).alias("simulated"), pl.lit(True).alias("declared_is_synthetic"))
        landing.append_frame(settings.landing_dir, "participants", declared.select(inputs["participants"].drop("age_band", "wave_start_utc").columns), source=f"simulator:{race_id}")
        landing.append_frame(settings.landing_dir, "reports", sim.cramp_reports, source=f"simulator:{race_id}")
        landing.append_frame(settings.landing_dir, "survey", sim.survey_responses, source=f"simulator:{race_id}")
    summary = ingest_now(settings)
    say(f"merged: {summary.accepted} accepted, {summary.quarantined} quarantined; marts published to {settings.snapshot_dir}")
