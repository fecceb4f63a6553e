"""The simulator's cramp model: synthetic declared times, segment covariates, planted rate
ratios, and onsets that follow the planted hazard (checked on synthetic fields built here)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm

from racecramp.marts.hazard import HazardParams, on_course_share
from racecramp.simulate.cramp_model import CrampModelParams, planted_rate_ratios, runner_segments, runner_timelines
from racecramp.simulate.declared import DeclaredFinishParams, synthesise_declared_finish
from racecramp.simulate.stream import simulate_race

UTC_US = pl.Datetime("us", "UTC")
RACE = "test-2030"
GUN = datetime(2030, 4, 15, 14, 0, tzinfo=UTC)
MATS = [
    ("mat-05k", 5.0),
    ("mat-10k", 10.0),
    ("mat-15k", 15.0),
    ("mat-20k", 20.0),
    ("mat-half", 21.0975),
    ("mat-25k", 25.0),
    ("mat-30k", 30.0),
    ("mat-35k", 35.0),
    ("mat-40k", 40.0),
    ("finish", 42.195),
]
STATIONS = [("aid-10k", "aid_station", 10.0), ("aid-20k", "aid_station", 20.0), ("aid-30k", "aid_station", 30.0),
            ("aid-35k", "aid_station", 35.0), ("aid-40k", "aid_station", 40.0),
            ("finish", "finish", 42.195), ("med-finish", "medical_tent", 42.195)]


def course_points() -> pl.DataFrame:
    rows = [(RACE, pid, "timing_mat", km, pid) for pid, km in MATS if pid != "finish"]
    rows += [(RACE, pid, kind, km, pid) for pid, kind, km in STATIONS]
    return pl.DataFrame(rows, schema=["race_id", "point_id", "kind", "km", "label"], orient="row")


def participants_frame(bibs: list[str], official_s: list[float | None], declared_s: list[float | None] | None = None) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "race_id": [RACE] * len(bibs),
            "bib": bibs,
            "wave_start_utc": [GUN] * len(bibs),
            "finished": [o is not None for o in official_s],
            "official_time_s": official_s,
        },
        schema_overrides={"wave_start_utc": UTC_US, "official_time_s": pl.Float64},
    )
    if declared_s is not None:
        frame = frame.with_columns(pl.Series("declared_finish_s", declared_s, dtype=pl.Float64))
    return frame


def passings_frame(rows: list[tuple[str, str, float, float]]) -> pl.DataFrame:
    """rows: (bib, point_id, km, net_time_s); passed_at_utc = gun + net."""
    return pl.DataFrame(
        {
            "race_id": [RACE] * len(rows),
            "bib": [r[0] for r in rows],
            "point_id": [r[1] for r in rows],
            "km": [r[2] for r in rows],
            "net_time_s": [r[3] for r in rows],
            "passed_at_utc": [GUN + timedelta(seconds=r[3]) for r in rows],
        },
        schema_overrides={"passed_at_utc": UTC_US},
    )


def weather_ramp(wbgt_start_c: float, wbgt_end_c: float, hours: int = 8) -> pl.DataFrame:
    """Hourly weather whose WBGT goes linearly from wbgt_start_c at the gun to wbgt_end_c."""
    times = [GUN + timedelta(hours=h) for h in range(-1, hours + 1)]
    wbgt = [wbgt_start_c + (wbgt_end_c - wbgt_start_c) * max(0, h) / hours for h in range(-1, hours + 1)]
    return pl.DataFrame(
        {"source": "test", "location": "here", "observed_at_utc": times, "temp_c": wbgt, "dew_point_c": [0.0] * len(wbgt),
         "rh_pct": [50.0] * len(wbgt), "wind_m_s": [2.0] * len(wbgt), "conditions": "Clear", "wbgt_c": wbgt},
        schema_overrides={"observed_at_utc": UTC_US},
    )


def synthetic_field(n: int, seed: int, collapse_share: float = 0.3, slow_second_half: float = 0.06) -> tuple[pl.DataFrame, pl.DataFrame]:
    """n finishers with varied paces; a share of them collapse (pace × 1.5) from 30 km on."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(240.0, 420.0, n)
    collapses = rng.random(n) < collapse_share
    kms = np.array([km for _, km in MATS])
    starts = np.concatenate([[0.0], kms[:-1]])
    factor = np.where(starts >= HALF_SPLIT_KM, 1.0 + slow_second_half, 1.0)
    seg_pace = base[:, None] * factor[None, :] * rng.uniform(0.97, 1.03, (n, len(kms)))
    seg_pace = np.where((starts[None, :] >= 30.0) & collapses[:, None], seg_pace * 1.5, seg_pace)
    net = np.round(np.cumsum(seg_pace * (kms - starts)[None, :], axis=1))
    bibs = [str(1000 + i) for i in range(n)]
    participants = participants_frame(bibs, net[:, -1].tolist())
    passings = pl.DataFrame(
        {
            "race_id": RACE,
            "bib": np.repeat(bibs, len(kms)),
            "point_id": [pid for pid, _ in MATS] * n,
            "km": np.tile(kms, n),
            "net_time_s": net.ravel(),
        }
    ).with_columns((pl.lit(GUN).cast(UTC_US) + pl.duration(seconds=pl.col("net_time_s"))).alias("passed_at_utc"))
    return participants, passings


HALF_SPLIT_KM = 21.0975


# ---------------------------------------------------------------- planted truths


def test_planted_rate_ratios_are_the_documented_values():
    ratios = planted_rate_ratios()
    # Distance shape (hazard.py defaults): weight 0.02 before 20 km, 1 from 35 km.
    assert ratios["late_vs_early_km"] == pytest.approx(1 / 0.02, rel=1e-9)
    # Roberts 2010 curve U = 0.514 w^2 - 8.097 w + 78.926: U(20) / U(15) = 122.586 / 73.121.
    assert ratios["hot_vs_cool"] == pytest.approx(122.586 / 73.121, rel=1e-6)
    assert ratios["faster_than_declared_vs_on_pace"] == 1.75
    assert ratios["prior_cramps_vs_none"] == 4.0
    assert ratios["pace_collapse_vs_steady"] == 2.0
    assert ratios["electrolyte_drinks_vs_none"] == 1.0


def test_an_on_pace_runner_in_the_cool_presents_as_often_as_the_alerts_expect():
    params = CrampModelParams()
    # reference risk 0.058, 39% with history at RR 4: 0.3876 * (1 - 0.942^4) + 0.6124 * 0.058
    history = 536 / 1383
    risk = history * (1 - 0.942**4) + (1 - history) * 0.058
    assert params.reference_population_cramp_risk == pytest.approx(risk, rel=1e-12)
    assert params.presentation_probability == pytest.approx(0.0065 / risk, rel=1e-12)
    assert params.presentation_probability * params.reference_population_cramp_risk * 1000 == pytest.approx(
        params.hazard.presentations_per_1000_starters
    )


def test_params_refuse_a_share_outside_zero_to_one_and_say_which():
    with pytest.raises(ValueError, match=r"survey_response_rate=1\.5: expected a share between 0 and 1"):
        CrampModelParams(survey_response_rate=1.5)
    with pytest.raises(ValueError, match="presentation probability"):
        CrampModelParams(hazard=HazardParams(presentations_per_1000_starters=900.0))


# ---------------------------------------------------------------- declared times


def test_declared_time_is_the_first_half_projected_with_a_ten_percent_slower_second_half():
    participants = participants_frame(["1", "2", "3"], [9000.0, 10000.0, None])
    passings = passings_frame([("1", "mat-half", 21.0975, 4000.0), ("1", "finish", 42.195, 9000.0),
                               ("2", "mat-20k", 20.0, 4000.0), ("2", "mat-25k", 25.0, 5000.0)])
    out = synthesise_declared_finish(participants, passings, seed=7, params=DeclaredFinishParams(noise_sigma=0.0))
    declared = dict(zip(out["bib"].to_list(), out["declared_finish_s"].to_list()))
    assert declared["1"] == 4000.0 * 2.1  # half × (2 + 0.10)
    assert declared["2"] == round(4000.0 / 20.0 * 42.195 * 1.05)  # no half: last split before it
    assert declared["3"] is None  # no split at all
    assert out["declared_is_synthetic"].to_list() == [True, True, True]


def test_declared_noise_is_lognormal_so_some_runners_beat_their_target_and_some_miss_it():
    participants, passings = synthetic_field(4000, seed=3, collapse_share=0.0, slow_second_half=0.10)
    out = synthesise_declared_finish(participants, passings, seed=11)
    half = passings.filter(pl.col("point_id") == "mat-half").select("bib", "net_time_s")
    log_noise = out.join(half, on="bib").select((pl.col("declared_finish_s") / (2.1 * pl.col("net_time_s"))).log())
    assert log_noise.to_series().std() == pytest.approx(0.05, abs=0.003)
    faster = out.select((pl.col("official_time_s") < pl.col("declared_finish_s")).mean()).item()
    assert 0.35 < faster < 0.65


# ---------------------------------------------------------------- segment covariates


def one_runner(weather: pl.DataFrame | None = None) -> pl.DataFrame:
    # 300 s/km to 20 km (reference pace 300), 330 to 30 km, 400 from 30 to 35 (> 1.25 × 300 = 375),
    # 360 from 35 km.
    splits = [("mat-05k", 5.0, 1500.0), ("mat-10k", 10.0, 3000.0), ("mat-15k", 15.0, 4500.0), ("mat-20k", 20.0, 6000.0),
              ("mat-25k", 25.0, 7650.0), ("mat-30k", 30.0, 9300.0), ("mat-35k", 35.0, 11300.0), ("mat-40k", 40.0, 13100.0),
              ("finish", 42.195, 13890.2)]
    participants = participants_frame(["7"], [13890.2], declared_s=[42.195 * 320.0])
    passings = passings_frame([("7", pid, km, t) for pid, km, t in splits])
    return runner_segments(participants, passings, weather if weather is not None else weather_ramp(10.0, 26.0))


def test_a_segment_is_collapsed_when_its_real_pace_exceeds_125_percent_of_the_runners_5_to_20_km_pace():
    segs = one_runner()
    collapsed = dict(zip(segs["km_from"].to_list(), segs["collapsed"].to_list()))
    assert segs["reference_pace_s_per_km"].to_list() == [300.0] * 9
    assert collapsed == {0.0: False, 5.0: False, 10.0: False, 15.0: False, 20.0: False, 25.0: False,
                         30.0: True, 35.0: False, 40.0: False}


def test_relative_pace_is_the_pace_so_far_at_the_segment_start_over_the_declared_pace():
    segs = one_runner()
    rel = dict(zip(segs["km_from"].to_list(), segs["relative_pace"].to_list()))
    assert rel[0.0] == pytest.approx(300.0 / 320.0)  # first segment: its own pace
    assert rel[30.0] == pytest.approx(9300.0 / 30.0 / 320.0)  # 310 / 320 = 0.969: on pace
    assert rel[20.0] == pytest.approx(300.0 / 320.0)  # 0.9375 < 0.95: faster than declared
    fast = dict(zip(segs["km_from"].to_list(), segs["fast"].to_list()))
    assert fast[20.0] and not fast[30.0]


def test_wbgt_is_read_at_the_runners_clock_time_at_the_segment_midpoint():
    segs = one_runner(weather_ramp(10.0, 26.0, hours=8))  # +2 °C per hour from the gun
    first = segs.row(0, named=True)  # 0-5 km: 0 to 1500 s, midpoint 750 s after the gun
    assert first["mid_at_utc"] == GUN + timedelta(seconds=750)
    assert first["wbgt_c"] == pytest.approx(10.0 + 2.0 * 750 / 3600)


def test_a_finisher_without_a_finish_passing_gets_one_from_the_official_time_and_glitches_are_dropped():
    participants = participants_frame(["5"], [12000.0])
    passings = passings_frame([("5", "mat-05k", 5.0, 1500.0), ("5", "mat-10k", 10.0, 1400.0), ("5", "mat-15k", 15.0, 4400.0)])
    timeline = runner_timelines(participants, passings)
    assert timeline["km"].to_list() == [5.0, 15.0, 42.195]
    assert timeline["net_time_s"].to_list() == [1500.0, 4400.0, 12000.0]
    assert timeline["at_utc"][-1] == GUN + timedelta(seconds=12000)


# ---------------------------------------------------------------- onsets follow the planted hazard


@pytest.fixture(scope="module")
def big_field():
    participants, passings = synthetic_field(20000, seed=5)
    sim = simulate_race(participants, passings, course_points(), weather_ramp(8.0, 24.0), seed=2024)
    onset = sim.runners.select("race_id", "bib", "onset_km")
    at_risk = (
        sim.segments.join(onset, on=["race_id", "bib"], how="left")
        .filter(pl.col("onset_km").is_null() | (pl.col("km_from") < pl.col("onset_km")))
        .with_columns(
            pl.min_horizontal("km_to", pl.col("onset_km").fill_null(pl.col("km_to"))).alias("risk_to_km"),
            (pl.col("onset_km").is_not_null() & (pl.col("onset_km") <= pl.col("km_to"))).cast(pl.Float64).alias("onset"),
        )
        .with_columns(on_course_share("km_from", "risk_to_km", sim.params.hazard).alias("share_at_risk"))
        .filter(pl.col("share_at_risk") > 0)
    )
    return sim, at_risk


@pytest.fixture(scope="module")
def poisson_fit(big_field):
    """Poisson regression of onsets on the planted factors, with the distance shape as offset."""
    sim, at_risk = big_field
    columns = ["fast", "collapsed", "prior_cramps", "electrolyte_drinks"]
    x = at_risk.select([pl.col(c).cast(pl.Float64) for c in columns] + [pl.col("heat_multiplier").log().alias("log_heat")])
    design = sm.add_constant(x.to_pandas())
    offset = np.log(sim.params.reference_hazard * at_risk["share_at_risk"].to_numpy())
    fit = sm.GLM(at_risk["onset"].to_numpy(), design, family=sm.families.Poisson(), offset=offset).fit()
    return fit


def _covers(fit, name: str, truth: float) -> None:
    # 99% intervals: a correct sampler fails this about once in a hundred seeds per factor.
    low, high = fit.conf_int(alpha=0.01).loc[name]
    assert low <= truth <= high, f"{name}: planted {truth:.3f} outside the 99% CI [{low:.3f}, {high:.3f}]"


def test_faster_than_declared_runners_cramp_at_the_planted_rate_ratio(poisson_fit):
    _covers(poisson_fit, "fast", math.log(1.75))


def test_a_late_pace_collapse_doubles_the_cramp_rate(poisson_fit):
    _covers(poisson_fit, "collapsed", math.log(2.0))


def test_runners_with_prior_cramps_cramp_at_four_times_the_rate(poisson_fit):
    _covers(poisson_fit, "prior_cramps", math.log(4.0))


def test_electrolyte_drinks_change_nothing(poisson_fit):
    _covers(poisson_fit, "electrolyte_drinks", 0.0)


def test_heat_scales_the_rate_by_the_shared_heat_multiplier(poisson_fit):
    _covers(poisson_fit, "log_heat", 1.0)
    _covers(poisson_fit, "const", 0.0)  # nothing else moves the reference runner's hazard


def test_onsets_per_km_at_risk_are_late_as_planted(big_field):
    sim, at_risk = big_field
    km_at_risk = at_risk.with_columns((pl.col("risk_to_km") - pl.col("km_from")).alias("km_at_risk"))
    # Compare like with like: the other multipliers' mean per km in each band divides out.
    bands = {
        "late": km_at_risk.filter(pl.col("km_from") >= 35.0),
        "early": km_at_risk.filter(pl.col("risk_to_km") <= 20.0),
    }
    rate = {}
    for name, band in bands.items():
        others = band["pace_multiplier"] * band["heat_multiplier"] * band["collapse_multiplier"] * band["prior_cramps_multiplier"]
        rate[name] = band["onset"].sum() / (band["km_at_risk"] * others).sum()
    early_cases = bands["early"]["onset"].sum()
    ratio = rate["late"] / rate["early"]
    planted = planted_rate_ratios(sim.params)["late_vs_early_km"]
    half_width = 2.58 * math.sqrt(1 / early_cases + 1 / bands["late"]["onset"].sum())
    assert early_cases >= 50
    assert math.exp(-half_width) <= ratio / planted <= math.exp(half_width)


def test_a_cramping_runner_presents_at_the_first_station_at_or_after_the_onset():
    participants, passings = synthetic_field(600, seed=9)
    # Every cramper presents (presentation probability 1) and none skips to the finish tent.
    params = CrampModelParams(reference_cramp_risk=0.5, prior_cramps_share=0.0,
                              hazard=HazardParams(presentations_per_1000_starters=500.0, finish_share=0.0))
    assert params.presentation_probability == pytest.approx(1.0)
    sim = simulate_race(participants, passings, course_points(), weather_ramp(8.0, 8.0), seed=1, params=params)
    reports = sim.cramp_reports.join(sim.runners.select("bib", "onset_km", "onset_at_utc"), on="bib")
    assert reports.height == sim.runners["cramped"].sum() > 100
    station_km = [10.0, 20.0, 30.0, 35.0, 40.0, 42.195]
    expected = [next(km for km in station_km if km >= onset) for onset in reports["onset_km"].to_list()]
    assert reports["km"].to_list() == expected
    assert (reports.filter(pl.col("km") < 42.195)["source"] == "aid_station").all()
    assert (reports.filter(pl.col("km") == 42.195)["point_id"] == "med-finish").all()
    assert (reports["reported_at_utc"] >= reports["onset_at_utc"].dt.round("1s") - timedelta(seconds=1)).all()
