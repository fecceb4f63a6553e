"""The survey_rate_ratios mart: computed from the warehouse, kept between live cycles while
fresh, recomputed by a full publish."""

from __future__ import annotations

import random

import polars as pl

from racecramp import landing
from racecramp.landing.bulk import import_results, import_weather, ingest_now
from racecramp.publish.publisher import publish_after_ingest
from racecramp.publish.snapshots import read_snapshot
from racecramp.warehouse.writer import open_writer

from paths import DATA

RUNNERS = 400


def _results_head(tmp_path, rows: int):
    lines = (DATA / "boston-2017" / "results.csv").read_text().splitlines()
    path = tmp_path / "results-head.csv"
    path.write_text("\n".join(lines[: rows + 1]) + "\n")
    return path


def _survey(bibs: list[str], seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for bib in bibs:
        cramped = rng.random() < 0.3
        out.append({"race_id": "boston-2017", "bib": bib, "cramped": cramped, "onset_km": round(rng.uniform(25, 42), 1) if cramped else None,
                    "prior_cramps": rng.random() < 0.4, "electrolyte_drinks": rng.random() < 0.6, "simulated": True})
    return out


def test_the_cohort_mart_is_kept_while_fresh_and_recomputed_by_a_full_publish(boston_2017, tmp_path):
    settings = boston_2017
    import_results(settings, _results_head(tmp_path, RUNNERS), "boston-2017", ingest=False)
    import_weather(settings, DATA / "weather" / "boston_hourly.csv", "boston-2017", ingest=False)
    ingest_now(settings)
    assert read_snapshot(settings.snapshot_dir, "survey_rate_ratios").height == 0  # no survey yet: nothing to estimate

    bibs = read_snapshot(settings.snapshot_dir, "participants")["bib"].sort().to_list()
    landing.append_records(settings.landing_dir, "survey", _survey(bibs[:300], seed=1), source="test")
    ingest_now(settings)
    first = read_snapshot(settings.snapshot_dir, "survey_rate_ratios")
    assert first.height > 0 and set(first["survey_rows"]) == {300}
    assert "prior_cramps_vs_none" in first["term"].to_list() and first["simulated"].all()
    # real Boston results carry no declared time: that factor leaves the model, the rest is estimated
    assert "faster_than_declared_vs_on_pace" not in first["term"].to_list()

    # more answers a moment later: the live cycle keeps the minute-old estimate
    landing.append_records(settings.landing_dir, "survey", _survey(bibs[300:], seed=2), source="test")
    ingest_now(settings)
    assert set(read_snapshot(settings.snapshot_dir, "survey_rate_ratios")["survey_rows"]) == {300}

    # a full publish (racecramp marts) recomputes from all of them
    with open_writer(settings.warehouse_path) as con:
        publish_after_ingest(con, settings, None)
    again = read_snapshot(settings.snapshot_dir, "survey_rate_ratios")
    assert set(again["survey_rows"]) == {RUNNERS}
    assert again.filter(pl.col("term") == "prior_cramps_vs_none")["km_at_risk"][0] > first.filter(
        pl.col("term") == "prior_cramps_vs_none"
    )["km_at_risk"][0]
