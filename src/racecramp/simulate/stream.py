"""Simulated race: planted cramps, station reports and survey answers on a real race, and
the deterministic event stream a replay sends (roster, passings, weather, reports, survey).

Every row produced here carries simulated = true. The same inputs and seed give a
byte-identical stream (stream_digest); the model and its sources are in cramp_model.py and
docs/simulator.md.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from racecramp.domain import ReportSource, place_code
from racecramp.landing.kinds import KINDS
from racecramp.marts.heat import LILJEGREN_INPUT_COLUMNS, preferred_weather_source
from racecramp.simulate.cramp_model import (
    DETAILS_STREAM,
    PRESENTATION_STREAM,
    SURVEY_STREAM,
    UTC_DT,
    CrampModelParams,
    draw_onsets,
    draw_runner_traits,
    medical_stations,
    runner_segments,
    runner_timelines,
    with_segment_hazard,
)
from racecramp.simulate.declared import stream_rng, synthesise_declared_finish

# Fixed namespace for simulated report ids: uuid5(namespace, "race|seed|bib|km") is the same
# on every run, so a replay that retries a post reuses the id and the report lands once.
SIMULATED_REPORT_NAMESPACE = uuid.UUID("3b0c6c1e-2f7d-5a40-9a3e-7c1d5e2b8f60")

# ASSUMPTIONS of the replay timeline: the roster is sent one hour before the first wave;
# weather is sent at 10-minute steps (linear interpolation between real observations,
# labelled interpolated) from the roster time to one hour after the last passing.
ROSTER_LEAD_S = 3600.0
WEATHER_STEP_S = 600
WEATHER_TAIL_S = 3600.0
REPLAY_WEATHER_SOURCE = "replay"

# Event kinds are the landing kinds of the intake (racecramp.landing.KINDS).
KIND_PARTICIPANTS = "participants"
KIND_PASSINGS = "passings"
KIND_WEATHER = "weather"
KIND_REPORTS = "reports"
KIND_SURVEY = "survey"

ISO_FORMAT = "%Y-%m-%dT%H:%M:%S%.6fZ"


@dataclass(frozen=True)
class SimulatedRace:
    """What the simulator planted in one race.

    participants, cramp_reports, survey_responses: warehouse-shaped frames (simulated = true).
    runners: the hidden truth per runner (traits, onset, presentation).
    segments: the hidden truth per runner segment (covariates, each multiplier, hazard),
    the exposure table a known-truth test recovers the planted rate ratios from.
    """

    race_id: str
    seed: int
    params: CrampModelParams
    participants: pl.DataFrame
    cramp_reports: pl.DataFrame
    survey_responses: pl.DataFrame
    runners: pl.DataFrame
    segments: pl.DataFrame


def _as_frame(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    return frame.collect() if isinstance(frame, pl.LazyFrame) else frame


def _single_race_id(participants: pl.DataFrame) -> str:
    race_ids = participants["race_id"].unique().to_list()
    if len(race_ids) != 1:
        raise ValueError(f"participants: race_id has {len(race_ids)} distinct values {sorted(map(str, race_ids))[:5]}; expected one race")
    return str(race_ids[0])


def _categorical(u: np.ndarray, shares: tuple[tuple[str, float], ...]) -> np.ndarray:
    labels = np.array([label for label, _ in shares], dtype=object)
    weights = np.array([share for _, share in shares], dtype=np.float64)
    edges = np.cumsum(weights / weights.sum())
    return labels[np.minimum(np.searchsorted(edges, u, side="right"), len(labels) - 1)]


def _report_id(race_id: str, seed: int, bib: str, km: float) -> str:
    return str(uuid.uuid5(SIMULATED_REPORT_NAMESPACE, f"{race_id}|{seed}|{bib}|{km:.4f}"))


def _time_at_km(segments: pl.DataFrame, wanted: pl.DataFrame) -> pl.DataFrame:
    """Runner's wall-clock time at km (columns race_id, bib, km): linear between real
    points; beyond the last point, the last segment's pace carried on."""
    last = segments.group_by("race_id", "bib").agg(pl.col("km_to").max().alias("_last_km"))
    joined = (
        wanted.join(last, on=["race_id", "bib"], how="left")
        .join(segments.select("race_id", "bib", "km_from", "km_to", "at_from_utc", "at_to_utc"), on=["race_id", "bib"], how="left")
        .filter(
            ((pl.col("km_from") < pl.col("km")) & (pl.col("km") <= pl.col("km_to")))
            | ((pl.col("km") > pl.col("_last_km")) & (pl.col("km_to") == pl.col("_last_km")))
        )
    )
    return joined.select(
        "race_id",
        "bib",
        "km",
        (
            pl.col("at_from_utc")
            + (pl.col("at_to_utc") - pl.col("at_from_utc"))
            * ((pl.col("km") - pl.col("km_from")) / (pl.col("km_to") - pl.col("km_from")))
        )
        .dt.cast_time_unit("us")
        .alias("at_utc"),
    )


def _present(
    runners: pl.DataFrame, segments: pl.DataFrame, course_points: pl.DataFrame, seed: int, params: CrampModelParams
) -> pl.DataFrame:
    """Add presented, point_id, station_km, reported_at_utc and the report fields."""
    n = runners.height
    presentation = stream_rng(seed, PRESENTATION_STREAM).random((n, 3))
    details = stream_rng(seed, DETAILS_STREAM).random((n, len(params.muscle_shares) + 4))
    course_km = params.hazard.course_km
    stations, finish_tent = medical_stations(course_points, course_km)
    station_km = stations["km"].to_numpy()
    station_ids = stations["point_id"].to_numpy()

    cramped = runners["cramped"].to_numpy()
    finished = runners["finished"].fill_null(False).to_numpy()
    onset_km = runners["onset_km"].fill_null(0.0).to_numpy()
    presented = cramped & (presentation[:, 0] < params.presentation_probability)
    to_finish_tent = finished & (presentation[:, 1] < params.hazard.finish_share)
    next_index = np.minimum(np.searchsorted(station_km, onset_km - 1e-9, side="left"), len(station_km) - 1)
    point_id = np.where(to_finish_tent, finish_tent, station_ids[next_index])
    point_id = np.where(presented, point_id, None)
    at_finish_tent = point_id == finish_tent
    km_of = dict(zip(station_ids.tolist(), station_km.tolist()))
    station_of = np.array([km_of.get(p) if p is not None else None for p in point_id], dtype=object)

    muscle_names = [name for name, _ in params.muscle_shares]
    muscle_share = np.array([share for _, share in params.muscle_shares])
    has_muscle = details[:, : len(muscle_names)] < muscle_share
    has_muscle[~has_muscle.any(axis=1), int(np.argmax(muscle_share))] = True
    weights = has_muscle * muscle_share
    choice = (weights.cumsum(axis=1) / weights.sum(axis=1, keepdims=True) <= details[:, [len(muscle_names)]]).sum(axis=1)
    report_muscle = np.array(muscle_names, dtype=object)[np.minimum(choice, len(muscle_names) - 1)]
    muscles = [",".join(m for m, has in zip(muscle_names, row) if has) for row in has_muscle]
    k = len(muscle_names) + 1
    severity = _categorical(details[:, k], params.severity_shares)
    treatment = _categorical(details[:, k + 1], params.treatment_shares)
    disposition = np.where(
        at_finish_tent,
        np.where(details[:, k + 2] < params.finish_tent_transported_share, "transported", "discharged"),
        np.where(
            finished,
            "returned_to_race",
            np.where(details[:, k + 2] < params.non_finisher_transported_share, "transported", "dnf"),
        ),
    )
    low, high = params.finish_tent_delay_s
    delay_s = low + presentation[:, 2] * (high - low)

    out = runners.with_columns(
        pl.Series("presented", presented, dtype=pl.Boolean),
        pl.Series("point_id", point_id.tolist(), dtype=pl.String),
        pl.Series("station_km", station_of.tolist(), dtype=pl.Float64),
        pl.Series("muscles", muscles, dtype=pl.String),
        pl.Series("report_muscle_group", report_muscle.tolist(), dtype=pl.String),
        pl.Series("severity", severity.tolist(), dtype=pl.String),
        pl.Series("treatment", treatment.tolist(), dtype=pl.String),
        pl.Series("disposition", disposition.tolist(), dtype=pl.String),
        pl.Series("_delay_s", delay_s, dtype=pl.Float64),
    )
    wanted = out.filter(pl.col("presented")).select(
        "race_id",
        "bib",
        pl.when(pl.col("point_id") == finish_tent).then(pl.lit(course_km)).otherwise(pl.col("station_km")).alias("km"),
    )
    arrival = _time_at_km(segments, wanted)
    return (
        out.join(arrival.select("race_id", "bib", "at_utc"), on=["race_id", "bib"], how="left")
        .with_columns(
            pl.when(pl.col("point_id") == finish_tent)
            .then(pl.col("at_utc") + pl.duration(microseconds=(pl.col("_delay_s") * 1e6).round()))
            .otherwise(pl.col("at_utc"))
            .dt.cast_time_unit("us")
            .dt.round("1s")
            .alias("reported_at_utc"),
            (pl.col("point_id") == finish_tent).fill_null(False).alias("at_finish_tent"),
        )
        .drop("at_utc", "_delay_s")
    )


def _cramp_reports(runners: pl.DataFrame, race_id: str, seed: int) -> pl.DataFrame:
    presented = runners.filter(pl.col("presented"))
    ids = [_report_id(race_id, seed, b, km) for b, km in zip(presented["bib"].to_list(), presented["station_km"].to_list())]
    frame = presented.select(
        pl.Series("report_id", ids, dtype=pl.String),
        pl.lit(race_id).alias("race_id"),
        pl.when(pl.col("at_finish_tent"))
        .then(pl.lit(ReportSource.FINISH_TENT.value))
        .otherwise(pl.lit(ReportSource.AID_STATION.value))
        .alias("source"),
        pl.lit(True).alias("simulated"),
        "point_id",
        pl.col("station_km").alias("km"),
        "bib",
        pl.col("reported_at_utc").cast(UTC_DT),
        pl.col("report_muscle_group").alias("muscle_group"),
        "severity",
        "treatment",
        "disposition",
        pl.col("point_id").alias("entered_by"),
        pl.lit(None, pl.String).alias("supersedes_report_id"),  # a simulated report corrects none
    )
    return KINDS["reports"].conform(frame).sort("reported_at_utc", "report_id")


def _survey_responses(runners: pl.DataFrame, participants: pl.DataFrame, seed: int, params: CrampModelParams) -> pl.DataFrame:
    n = runners.height
    uniform = stream_rng(seed, SURVEY_STREAM).random((n, 4))
    normal = stream_rng(seed, SURVEY_STREAM + 100).standard_normal((n, 2))
    course_km = params.hazard.course_km
    declared = runners.join(participants.select("race_id", "bib", "declared_finish_s"), on=["race_id", "bib"], how="left")[
        "declared_finish_s"
    ]
    declared_np = declared.fill_null(4 * 3600.0).to_numpy()
    weekly = np.clip(
        params.weekly_km_median_at_4h * (4 * 3600.0 / declared_np) * np.exp(params.weekly_km_sigma * normal[:, 0]), 5.0, 300.0
    )
    longest = np.clip(params.longest_run_km_mean + params.longest_run_km_sd * normal[:, 1], 16.0, 45.0)
    frame = runners.with_columns(
        pl.Series("_responds", uniform[:, 0] < params.survey_response_rate, dtype=pl.Boolean),
        pl.Series("strength_training", uniform[:, 1] < params.strength_training_share, dtype=pl.Boolean),
        pl.Series("plyometrics", uniform[:, 2] < params.plyometrics_share, dtype=pl.Boolean),
        pl.Series("heat_acclimatised", uniform[:, 3] < params.heat_acclimatised_share, dtype=pl.Boolean),
        pl.Series("weekly_km", np.round(weekly, 1), dtype=pl.Float64),
        pl.Series("longest_training_run_km", np.round(longest, 1), dtype=pl.Float64),
        (declared / course_km).round(1).alias("target_pace_s_per_km"),
    )
    responses = frame.filter(pl.col("_responds") & pl.col("finished").fill_null(False)).select(
        "race_id",
        "bib",
        "cramped",
        pl.col("onset_km").round(1).clip(upper_bound=course_km),
        pl.when(pl.col("cramped")).then(pl.col("muscles")).alias("muscles"),
        "longest_training_run_km",
        "weekly_km",
        "strength_training",
        "plyometrics",
        "target_pace_s_per_km",
        "electrolyte_drinks",
        "heat_acclimatised",
        "prior_cramps",
        pl.lit(True).alias("simulated"),
        pl.lit(None, UTC_DT).alias("answered_at_utc"),  # the stream sends each answer survey_delay_s after the finish
    )
    return KINDS["survey"].conform(responses).sort("race_id", "bib")


def simulate_race(
    participants: pl.DataFrame | pl.LazyFrame,
    passings: pl.DataFrame | pl.LazyFrame,
    course_points: pl.DataFrame | pl.LazyFrame,
    weather: pl.DataFrame | pl.LazyFrame,
    seed: int,
    params: CrampModelParams = CrampModelParams(),
) -> SimulatedRace:
    """Plant cramps in a real race: synthetic declared times, per-segment hazard on the real
    splits and weather (weather must carry wbgt_c, see transforms.heat.with_heat), first
    onsets, station presentations and finisher-survey answers."""
    participants = _as_frame(participants)
    passings = _as_frame(passings)
    course_points = _as_frame(course_points)
    weather = _as_frame(weather)
    race_id = _single_race_id(participants)
    sim_participants = synthesise_declared_finish(participants, passings, seed).with_columns(pl.lit(True).alias("simulated"))
    segments = runner_segments(sim_participants, passings, weather, params)
    traits = draw_runner_traits(sim_participants, seed, params)
    hazard_segments = with_segment_hazard(segments, traits, params)
    onsets = draw_onsets(hazard_segments, sim_participants, seed, params)
    runners = (
        traits.join(onsets, on=["race_id", "bib"], how="left")
        .join(sim_participants.select("race_id", "bib", "finished"), on=["race_id", "bib"], how="left")
        .sort("race_id", "bib")
    )
    runners = _present(runners, segments, course_points, seed, params)
    return SimulatedRace(
        race_id=race_id,
        seed=seed,
        params=params,
        participants=sim_participants,
        cramp_reports=_cramp_reports(runners, race_id, seed),
        survey_responses=_survey_responses(runners, sim_participants, seed, params),
        runners=runners,
        segments=hazard_segments,
    )


# ---------------------------------------------------------------- the event stream


def _records(frame: pl.DataFrame, kind: str) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts with exactly the columns a client sends of `kind` (datetimes ISO, Z)."""
    columns = []
    for name, dtype in KINDS[kind].sent_schema.items():
        col = pl.col(name) if name in frame.columns else pl.lit(None)
        col = col.cast(dtype)
        if dtype == UTC_DT:
            col = col.dt.strftime(ISO_FORMAT)
        columns.append(col.alias(name))
    return frame.select(columns).to_dicts()


def _weather_steps(weather: pl.DataFrame, race_id: str, start: datetime, end: datetime) -> pl.DataFrame:
    """Real observations resampled to WEATHER_STEP_S between start and end (no extrapolation)."""
    if "source" in weather.columns:
        chosen = preferred_weather_source(weather.lazy()).collect()
        if chosen.height:
            weather = weather.filter(pl.col("source") == chosen["source"][0])
    obs = weather.with_columns(pl.col("observed_at_utc").cast(UTC_DT)).sort("observed_at_utc").unique(
        "observed_at_utc", keep="first", maintain_order=True
    )
    if obs.height == 0:
        raise ValueError("weather: no observations; expected the race day's hourly weather")
    first = max(obs["observed_at_utc"][0], start)
    last = min(obs["observed_at_utc"][-1], end)
    step = timedelta(seconds=WEATHER_STEP_S)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    grid_start = epoch + step * -(-(first - epoch) // step)
    if grid_start > last:
        return pl.DataFrame(schema={name: dtype for name, dtype in KINDS["weather"].schema.items()})
    grid = pl.datetime_range(grid_start, last, interval=f"{WEATHER_STEP_S}s", time_unit="us", time_zone="UTC", eager=True)
    x = obs["observed_at_utc"].dt.epoch("us").to_numpy().astype(np.float64)
    g = grid.dt.epoch("us").to_numpy().astype(np.float64)
    values: dict[str, Any] = {}
    # Everything with_heat reads (the Liljegren inputs included), interpolated like the rest.
    for name in ("temp_c", "dew_point_c", "rh_pct", "wind_m_s", *LILJEGREN_INPUT_COLUMNS):
        if name not in obs.columns:
            values[name] = pl.Series(name, [None] * len(g), dtype=pl.Float64)
            continue
        present = obs.filter(pl.col(name).is_not_null())
        if present.height == 0:
            values[name] = pl.Series(name, [None] * len(g), dtype=pl.Float64)
            continue
        xs = present["observed_at_utc"].dt.epoch("us").to_numpy().astype(np.float64)
        values[name] = pl.Series(name, np.round(np.interp(g, xs, present[name].cast(pl.Float64).to_numpy()), 3), dtype=pl.Float64)
    frame = pl.DataFrame({"observed_at_utc": grid, **values}).with_columns(
        pl.Series("interpolated", ~np.isin(g, x), dtype=pl.Boolean)
    )
    context = obs.select(
        "observed_at_utc",
        (pl.col("conditions") if "conditions" in obs.columns else pl.lit(None, dtype=pl.String)).alias("conditions"),
        # sent over HTTP as a feed sends it: a code, not the file's place name
        (pl.col("location").map_elements(place_code, return_dtype=pl.String) if "location" in obs.columns
         else pl.lit(race_id)).alias("location"),
    )
    return (
        frame.join_asof(context, on="observed_at_utc", strategy="backward")
        .with_columns(
            pl.lit(REPLAY_WEATHER_SOURCE).alias("source"),
            pl.lit(race_id).alias("race_id"),
            pl.lit(True).alias("simulated"),
        )
    )


def event_stream(
    sim: SimulatedRace, passings: pl.DataFrame | pl.LazyFrame, weather: pl.DataFrame | pl.LazyFrame
) -> list[tuple[datetime, str, dict[str, Any]]]:
    """Everything a replay sends, as (emit_at_utc, kind, record), sorted by time, kind, key.

    Roster ROSTER_LEAD_S before the first start; each real passing at its wall-clock time;
    weather at 10-minute steps; each cramp report when the runner reaches the station;
    each survey answer survey_delay_s after the runner finished. Records carry the
    intake's landing columns with simulated = true.
    """
    passings = _as_frame(passings)
    weather = _as_frame(weather)
    timeline = runner_timelines(sim.participants, passings, sim.params.hazard.course_km)
    if timeline.height == 0:
        raise ValueError(f"passings: no usable passing for race {sim.race_id}; expected real timing points for its participants")
    starts = timeline.select((pl.col("at_utc") - pl.duration(microseconds=(pl.col("net_time_s") * 1e6).round())).min()).item()
    roster_at = starts - timedelta(seconds=ROSTER_LEAD_S)
    weather_end = timeline["at_utc"].max() + timedelta(seconds=WEATHER_TAIL_S)

    parts: list[pl.DataFrame] = []
    records: list[dict[str, Any]] = []

    def add(frame: pl.DataFrame, kind: str, emit: pl.Expr, key: pl.Expr) -> None:
        meta = frame.select(emit.cast(UTC_DT).dt.strftime(ISO_FORMAT).alias("emit"), key.cast(pl.String).alias("key"))
        first = len(records)
        records.extend(_records(frame, kind))
        parts.append(meta.with_columns(pl.lit(kind).alias("kind"), pl.int_range(first, len(records), eager=False).alias("i")))

    add(
        sim.participants.with_columns(pl.lit(roster_at).cast(UTC_DT).alias("_emit")),
        KIND_PARTICIPANTS,
        pl.col("_emit"),
        pl.col("bib"),
    )
    sim_passings = passings.join(sim.participants.select("race_id", "bib", "wave_start_utc"), on=["race_id", "bib"], how="inner")
    sim_passings = sim_passings.with_columns(pl.lit(True).alias("simulated"))
    add(
        sim_passings,
        KIND_PASSINGS,
        pl.coalesce(
            pl.col("passed_at_utc").cast(UTC_DT),
            pl.col("wave_start_utc") + pl.duration(microseconds=(pl.col("net_time_s") * 1e6).round()),
            pl.lit(roster_at).cast(UTC_DT),
        ),
        pl.col("bib") + "|" + pl.col("point_id"),
    )
    steps = _weather_steps(weather, sim.race_id, roster_at, weather_end)
    add(steps, KIND_WEATHER, pl.col("observed_at_utc"), pl.col("location") + "|" + pl.col("observed_at_utc").dt.strftime(ISO_FORMAT))
    add(sim.cramp_reports, KIND_REPORTS, pl.col("reported_at_utc"), pl.col("report_id"))
    finish_at = (
        timeline.filter(pl.col("km") >= sim.params.hazard.course_km - 1e-6).select("race_id", "bib", pl.col("at_utc").alias("_finish_at"))
    )
    survey = sim.survey_responses.join(finish_at, on=["race_id", "bib"], how="left")
    add(
        survey,
        KIND_SURVEY,
        pl.coalesce(pl.col("_finish_at"), pl.lit(weather_end).cast(UTC_DT))
        + pl.duration(microseconds=round(sim.params.survey_delay_s * 1e6)),
        pl.col("bib"),
    )
    events = pl.concat([p for p in parts if p.height], how="vertical").sort("emit", "kind", "key", "i")
    unsent = events.filter(pl.col("emit").is_null())
    if unsent.height:
        raise ValueError(f"{unsent['kind'][0]} record {unsent['key'][0]!r}: has no emit time; expected a timestamp")
    return [
        (datetime.fromisoformat(emit), kind, records[i])
        for emit, kind, i in zip(events["emit"].to_list(), events["kind"].to_list(), events["i"].to_list())
    ]


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_event_json(event: tuple[datetime, str, dict[str, Any]]) -> str:
    """One event as canonical JSON: [emit ISO-8601 UTC, kind, record], sorted keys, no spaces."""
    emit, kind, record = event
    if emit.utcoffset() != timedelta(0):
        raise ValueError(f"{kind} event at {emit!r}: emit time is not UTC; expected a UTC datetime")
    return _CANONICAL.encode([emit.isoformat(timespec="microseconds"), kind, record])


def stream_digest(events: list[tuple[datetime, str, dict[str, Any]]]) -> str:
    """sha256 (hex) of the events' canonical JSON, one line each: equal streams, equal digests."""
    digest = hashlib.sha256()
    for event in events:
        digest.update(canonical_event_json(event).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()
