"""Scale generator: N SIMULATED race editions synthesised from the real Boston 2017 and 2018 ones.

Everything it writes is labelled simulated = true (runners, passings, weather, reports).
docs/season.md describes the method; in short, for edition i (seed `seed`, stream i):

- **Base.** One of the real editions in data/ (boston-2017 warm, boston-2018 cold), drawn
  uniformly. Course, wave start times and the hourly weather timeline are the base's.
- **Runners.** `runners` draws with replacement from the base's real finishers (results
  rows the ingest would accept, sources.roster.roster_from_results). A draw keeps its
  original's sex, age, wave and pacing profile; its splits and official time are the
  original's × one speed factor U(SPEED_FACTOR_RANGE) (so splits stay increasing). Bibs are
  new ("1" … "<runners>"). Declared finish times are synthetic: official × exp(N(0,
  DECLARED_LOG_SD)), declared_is_synthetic = true (as bench/scaleup.py).
- **Weather.** The base's hourly observations with temperature and dew point both shifted
  by one offset U(WEATHER_OFFSET_C_RANGE) °C per edition (relative humidity recomputed from
  the dew point; WBGT by transforms.heat.with_heat).
- **Cramps.** NOT the full per-segment simulator (simulate.simulate_race, about 10 s per
  edition): a cheaper per-runner approximation with the same shared model
  (transforms.hazard and simulate.cramp_model constants). Expected presentations of a
  runner E = per_starter × pace_multiplier(relative pace at 35K) × heat_multiplier(WBGT as
  of the runner's 35K passing) × COLLAPSE_RR when the 35→40 km pace is > SLOWDOWN_RATIO × the
  5→20 km pace; the runner presents with probability 1 − exp(−E). A presenting runner goes
  to the finish tent with probability finish_share (reported FINISH_TENT_DELAY_S after the
  finish), else to an aid station drawn with weight ∝ its catchment's share of the
  distance shape, reported 0–REPORT_DELAY_MAX_S after the interpolated passing time there.
- **No survey answers** are generated (the season analysis does not use them).

Fast because everything is arrays: one edition of 40,000 runners is built in well under a
second; the base editions are read once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import polars as pl

from racecramp.data import data_dir
from racecramp.domain import SLOWDOWN_RATIO, PointKind
from racecramp.marts.hazard import HazardParams, heat_multiplier, km_weight_cumulative
from racecramp.marts.heat import with_heat
from racecramp.season.dataset import write_edition
from racecramp.simulate.cramp_model import COLLAPSE_RR, FINISH_TENT_DELAY_S, MANJRA_1996_MUSCLE_SHARES, SA_IRONMAN_SEVERITY_SHARES

DATA = data_dir()
BASE_EDITIONS = ("boston-2017", "boston-2018")
WEATHER_FILE = "weather/boston_hourly.csv"
RACE_NAME = "Boston Marathon"
SERIES = "synthetic"
DEFAULT_SEED = 20260417

# Choices of this generator (arbitrary but fixed; docs/season.md):
SPEED_FACTOR_RANGE = (0.97, 1.03)  # per-runner ×speed on a real runner's splits (as bench/scaleup.py)
DECLARED_LOG_SD = 0.08  # synthetic declared finish = official × exp(N(0, 0.08)) (as bench/scaleup.py)
# Weather offset: Boston 2017 peaked near WBGT 22 °C and 2018 near 8 °C; ±8 °C on the air
# temperature spreads the editions over every ACSM flag from white to red.
WEATHER_OFFSET_C_RANGE = (-8.0, 8.0)
REPORT_DELAY_MAX_S = 600.0  # an on-course report 0-10 min after the runner passed the station
LATE_KM, LATE_POINT = 35.0, "mat-35k"  # where the runner's heat and relative pace are read

UTC = pl.Datetime("us", "UTC")
US = 1_000_000


@dataclass(frozen=True)
class BaseEdition:
    """A real edition as arrays: one row per runner, one column per timing point (km order)."""

    race_id: str
    course: pl.DataFrame
    weather: pl.DataFrame  # weather_observations of the base race (real)
    point_ids: list[str]
    point_km: np.ndarray
    net_s: np.ndarray  # runners × points, NaN where no split
    official_s: np.ndarray
    wave_start_us: np.ndarray
    people: pl.DataFrame  # sex, age, age_band, wave (row order = arrays)


def load_base(race_id: str, data_dir: Path = DATA) -> BaseEdition:
    """One real edition from data/: results (as the ingest accepts them), course, weather."""
    from racecramp.sources.race import read_race
    from racecramp.sources.results import read_results
    from racecramp.sources.roster import roster_from_results
    from racecramp.sources.weather import read_visualcrossing_csv

    races, course = read_race(data_dir / "races" / f"{race_id}.toml")
    course = course.with_columns(pl.col("km").cast(pl.Float64), pl.col("beds").cast(pl.Int32))
    rows = read_results(data_dir / race_id / "results.csv", "boston", race_id).rows
    roster = roster_from_results(rows, races, course)
    people = roster.participants.filter(pl.col("finished") & pl.col("official_time_s").is_not_null()).sort("bib")
    timing = course.filter(pl.col("kind").is_in([PointKind.TIMING_MAT.value, PointKind.FINISH.value])).sort("km")
    wide = (
        roster.passings.pivot(on="point_id", index="bib", values="net_time_s")
        .join(people.select("bib"), on="bib", how="right")
        .sort("bib")
    )
    point_ids = [p for p in timing["point_id"].to_list() if p in wide.columns]
    year = int(race_id.rsplit("-", 1)[1])
    weather = read_visualcrossing_csv(data_dir / WEATHER_FILE, RACE_NAME, year).with_columns(pl.lit(race_id).alias("race_id"))
    return BaseEdition(
        race_id=race_id,
        course=course,
        weather=weather,
        point_ids=point_ids,
        point_km=timing.filter(pl.col("point_id").is_in(point_ids))["km"].to_numpy(),
        net_s=wide.select(point_ids).cast(pl.Float64).to_numpy(),
        official_s=people["official_time_s"].cast(pl.Float64).to_numpy(),
        wave_start_us=people["wave_start_utc"].dt.epoch("us").to_numpy(),
        people=people.select("sex", "age", "age_band", "wave"),
    )


def _edition_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index])


def _interp_rows(km: np.ndarray, point_km: np.ndarray, net_s: np.ndarray) -> np.ndarray:
    """Each runner's net time at km[i] by linear interpolation between their bracketing splits."""
    j = np.clip(np.searchsorted(point_km, km, side="right") - 1, 0, len(point_km) - 2)
    rows = np.arange(len(km))
    k0, k1 = point_km[j], point_km[j + 1]
    t0, t1 = net_s[rows, j], net_s[rows, j + 1]
    return t0 + (t1 - t0) * (km - k0) / (k1 - k0)


def generate_edition(base: BaseEdition, race_id: str, runners: int, rng: np.random.Generator,
                     hazard: HazardParams = HazardParams()) -> dict[str, pl.DataFrame]:  # fmt: skip
    """One SIMULATED edition's season-dataset frames (see the module docstring)."""
    n = runners
    pick = rng.integers(0, len(base.official_s), size=n)
    factor = rng.uniform(*SPEED_FACTOR_RANGE, size=n)
    net = np.round(base.net_s[pick] * factor[:, None])
    official = np.round(base.official_s[pick] * factor)
    start_us = base.wave_start_us[pick]
    bibs = pl.int_range(1, n + 1, eager=True).cast(pl.String).alias("bib")
    declared = np.round(official * np.exp(rng.normal(0.0, DECLARED_LOG_SD, size=n)))
    participants = base.people[pick].select(
        pl.lit(race_id).alias("race_id"), bibs, "sex", "age", "age_band", "wave",
        pl.Series("wave_start_utc", start_us).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
        pl.Series("declared_finish_s", declared), pl.lit(True).alias("declared_is_synthetic"), pl.lit(True).alias("finished"),
        pl.Series("official_time_s", official), pl.lit(True).alias("simulated"),
    )  # fmt: skip
    n_points = len(base.point_ids)
    has = ~np.isnan(net)
    runner_idx = np.repeat(np.arange(n), n_points).reshape(n, n_points)[has]
    point_idx = np.tile(np.arange(n_points), n).reshape(n, n_points)[has]
    net_flat = net[has]
    passings = pl.DataFrame(
        {
            "race_id": pl.repeat(race_id, len(net_flat), eager=True, dtype=pl.String),
            "bib": bibs.gather(runner_idx),
            "point_id": pl.Series(base.point_ids, dtype=pl.String).gather(point_idx),
            "km": base.point_km[point_idx],
            "net_time_s": net_flat,
            "passed_at_utc": pl.Series(start_us[runner_idx] + net_flat.astype(np.int64) * US).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
            "simulated": pl.repeat(True, len(net_flat), eager=True),
        }
    )  # fmt: skip

    offset_c = rng.uniform(*WEATHER_OFFSET_C_RANGE)
    weather = with_heat(
        base.weather.with_columns(
            pl.lit(race_id).alias("race_id"),
            pl.col("temp_c") + offset_c,
            pl.col("dew_point_c") + offset_c,
            pl.lit(None, pl.Float64).alias("rh_pct"),
            pl.lit(True).alias("simulated"),
        ).lazy()
    ).collect()
    course = base.course.with_columns(pl.lit(race_id).alias("race_id"))
    reports = _planted_reports(base, race_id, net, official, start_us, declared, weather, course, rng, hazard)
    return {"participants": participants, "passings": passings, "course_points": course,
            "cramp_reports": reports, "weather_heat": weather}  # fmt: skip


def _planted_reports(base: BaseEdition, race_id: str, net: np.ndarray, official: np.ndarray, start_us: np.ndarray,
                     declared: np.ndarray, weather: pl.DataFrame, course: pl.DataFrame, rng: np.random.Generator,
                     hazard: HazardParams) -> pl.DataFrame:  # fmt: skip
    """Cramp presentations drawn per runner with the cheap approximation of the module docstring."""
    n = len(official)
    col = {p: i for i, p in enumerate(base.point_ids)}
    late_s = net[:, col[LATE_POINT]]
    relative_pace = (late_s / LATE_KM) / (declared / hazard.course_km)
    early = (net[:, col["mat-20k"]] - net[:, col["mat-05k"]]) / 15.0
    late = (net[:, col["mat-40k"]] - net[:, col["mat-35k"]]) / 5.0
    collapsed = np.nan_to_num(late / early, nan=0.0) > SLOWDOWN_RATIO
    obs = weather.filter(pl.col("wbgt_c").is_not_null()).sort("observed_at_utc")
    obs_us = obs["observed_at_utc"].dt.epoch("us").to_numpy()
    at_us = start_us + np.nan_to_num(late_s, nan=0.0) * US
    wbgt = obs["wbgt_c"].to_numpy()[np.clip(np.searchsorted(obs_us, at_us, side="right") - 1, 0, len(obs_us) - 1)]
    mult = pl.select(
        pl.lit(pl.Series(relative_pace)).lt(hazard.fast_pace_below).cast(pl.Float64) * (hazard.fast_pace_rr - 1) + 1,
        heat_multiplier(pl.lit(pl.Series(wbgt)), hazard).alias("heat"),
    )
    expected = hazard.per_starter * mult.to_series(0).to_numpy() * mult["heat"].to_numpy() * np.where(collapsed, COLLAPSE_RR, 1.0)
    present = rng.random(n) < -np.expm1(-expected)
    who = np.flatnonzero(present)
    m = len(who)
    stations = course.filter(pl.col("kind") == PointKind.AID_STATION.value).sort("km")
    tent = course.filter(pl.col("kind") == PointKind.MEDICAL_TENT.value)
    tent_id, tent_km = tent["point_id"][0], float(tent["km"][0])
    st_km = stations["km"].to_numpy()
    cum = pl.select(km_weight_cumulative(pl.lit(pl.Series(np.concatenate([[0.0], st_km]))), hazard)).to_series().to_numpy()
    weights = np.diff(cum) / np.diff(cum).sum()
    at_finish = rng.random(m) < hazard.finish_share
    station = rng.choice(len(st_km), size=m, p=weights)
    km = np.where(at_finish, tent_km, st_km[station])
    # a missing split (a mat that did not read the chip) is filled at the runner's even pace
    even = official[who, None] * base.point_km[None, :] / base.point_km[-1]
    on_course_s = _interp_rows(st_km[station], base.point_km, np.where(np.isnan(net[who]), even, net[who]))
    finish_s = official[who] + rng.uniform(*FINISH_TENT_DELAY_S, size=m)
    delay_s = np.where(at_finish, finish_s, on_course_s + rng.uniform(0, REPORT_DELAY_MAX_S, size=m))
    point = np.where(at_finish, tent_id, stations["point_id"].to_numpy()[station])
    ids = [str(uuid.UUID(bytes=bytes(b), version=4)) for b in rng.integers(0, 256, size=(m, 16), dtype=np.uint8)]
    muscles, muscle_w = zip(*MANJRA_1996_MUSCLE_SHARES)
    severities, severity_w = zip(*SA_IRONMAN_SEVERITY_SHARES)
    return pl.DataFrame(
        {
            "report_id": ids,
            "race_id": [race_id] * m,
            "source": np.where(at_finish, "finish_tent", "aid_station"),
            "simulated": [True] * m,
            "point_id": point,
            "km": km,
            "bib": [str(i + 1) for i in who],
            "reported_at_utc": pl.Series(start_us[who] + np.round(delay_s * US).astype(np.int64)).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
            "muscle_group": rng.choice(muscles, size=m, p=np.array(muscle_w) / sum(muscle_w)),
            "severity": rng.choice(severities, size=m, p=np.array(severity_w) / sum(severity_w)),
            "treatment": ["stretch_massage"] * m,
            "disposition": np.where(at_finish, "discharged", "returned_to_race"),
            "entered_by": point,
        },
        schema_overrides={"report_id": pl.String, "race_id": pl.String, "bib": pl.String, "point_id": pl.String,
                          "source": pl.String, "muscle_group": pl.String, "severity": pl.String,
                          "disposition": pl.String, "entered_by": pl.String, "km": pl.Float64},
    )  # fmt: skip


def generate_season(root: str, editions: int, runners: int, seed: int = DEFAULT_SEED,
                    storage_options: dict[str, Any] | None = None, data_dir: Path = DATA,
                    progress: Callable[[int, str], None] | None = None) -> list[str]:  # fmt: skip
    """Write `editions` SIMULATED editions (race_id synthetic-0001 …) to the season dataset; returns their race_ids."""
    if editions < 1 or runners < 1:
        raise ValueError(f"generate_season: editions={editions}, runners={runners}: expected both >= 1")
    bases = [load_base(race_id, data_dir) for race_id in BASE_EDITIONS]
    race_ids = []
    for i in range(1, editions + 1):
        rng = _edition_rng(seed, i)
        base = bases[int(rng.integers(len(bases)))]
        race_id = f"{SERIES}-{i:04d}"
        write_edition(root, race_id, generate_edition(base, race_id, runners, rng), storage_options)
        race_ids.append(race_id)
        if progress is not None:
            progress(i, race_id)
    return race_ids
