"""The documented cramp model of the race simulator: per-runner, per-segment hazard.

This is a MODEL, not data. It plants exercise-associated muscle cramps (EAMC) into a real
race (real runners, real splits, real weather) the way the literature says they happen,
so that the analytics can be checked against a known truth. docs/simulator.md lists every
parameter with its value and source; the numbers live here as named constants.

A runner's course is cut into segments between consecutive real timing points (start,
5K, 10K, ..., finish). In segment s of runner i the cumulative hazard of a first cramp is

    Λ_is = Λ0 × on_course_share(km_from, km_to)              (hazard.py distance shape)
           × pace_multiplier(relative_pace_is)              (hazard.py, Schwellnus 2011)
           × heat_multiplier(wbgt_c at the runner's time)   (hazard.py, Roberts 2007/2010)
           × collapse_rr     if the real segment pace > 1.25 × own 5-20 km pace
           × prior_cramps_rr if the runner has a history of cramping
           × electrolyte_rr  (= 1: electrolyte drinks do nothing, Schwellnus 2004)

with Λ0 = −ln(1 − reference_cramp_risk), the whole-course hazard of a reference runner (no
history, on pace, cool, no collapse). The first cramp is where the runner's cumulative
hazard first exceeds an Exp(1) draw. The distance shape, the pace rate ratio and the heat
curve are imported from racecramp.marts.hazard, so the simulator and the alerts use
one model. Every multiplier is a rate ratio on the hazard per km at risk: those are the
planted, exactly known truths (planted_rate_ratios()).

Only a fraction of cramping runners present at a medical station: the probability is set
so that a reference runner's expected presentations equal hazard.py's
presentations_per_1000_starters (an assumption: a few per 1000 starters). A presenting
runner goes to the finish tent with probability hazard.py's finish_share, else to the next
station at or after the onset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from racecramp.domain import MARATHON_KM, SLOWDOWN_RATIO, PointKind
from racecramp.marts.hazard import (
    PRESENTATIONS_PER_1000_STARTERS_HIGH,
    PRESENTATIONS_PER_1000_STARTERS_LOW,
    HazardParams,
    heat_multiplier,
    km_weight,
    km_weight_cumulative,
    on_course_share,
    pace_multiplier,
    require_columns,
)
from racecramp.marts.heat import preferred_weather_source
from racecramp.simulate.declared import stream_rng

UTC_DT = pl.Datetime("us", "UTC")

# ---------------------------------------------------------------- calibration targets
# Share of marathon finishers who report a cramp in a post-race survey (domain.md §1.1):
# Maughan 1986 (J Sports Sci 4:31) 15 of 82 = 18%; Martínez-Navarro 2022 (J Strength Cond
# Res 36:1629) 20 of 88 finishers = 24%. domain.md §1.3: simulator default 15-25%.
MAUGHAN_1986_PREVALENCE = 15 / 82
MARTINEZ_NAVARRO_2022_PREVALENCE = 20 / 88
SURVEY_PREVALENCE_LOW = 0.15
SURVEY_PREVALENCE_HIGH = 0.25

# Onset late: Manjra, Schwellnus, Noakes 1996 (MSSE 28:S167): 80% of crampers' onsets after
# 30 km. Maughan 1986: onset at 35 ± 6 km, which (if normal) also puts 80% after 30 km and
# about 1% before halfway (derived). The accepted range around "about 80%" is ours.
MANJRA_1996_SHARE_AFTER_30_KM = 0.80
SHARE_ONSET_AFTER_30_KM_LOW = 0.70
SHARE_ONSET_AFTER_30_KM_HIGH = 0.90
# "Few before halfway": SAFER XXII (PMID 34759185) first-quarter onset RR 0.3; Maughan's
# normal gives ~1%. Our bound is 8%: the shared distance shape (hazard.py, floor 2% of the
# peak before 20 km) alone puts 3.3% of the hazard before halfway, and early heat (2017's
# WBGT fell during the day) plus early fast running raise it to about 4-5% in Boston 2017.
# Getting near 1% needs a lower floor in hazard.py, a shared parameter.
SHARE_ONSET_BEFORE_HALF_MAX = 0.08

# Presentations of cramp at a medical station per 1000 starters. Cool race: hazard.py's
# assumption, 3-10 (domain.md §1.3 "rough starting anchor"). Warm race upper bound
# (derived): cramps were 27% of Kona Ironman tent records (Johnson, IJESAB 8(10):44) ×
# Boston 2017's 95 all-cause encounters per 1000 starters (2,596 / 27,211, press; domain.md
# §2.1) = 25.7 per 1000.
PRESENTATIONS_PER_1000_COOL_LOW = PRESENTATIONS_PER_1000_STARTERS_LOW
PRESENTATIONS_PER_1000_COOL_HIGH = PRESENTATIONS_PER_1000_STARTERS_HIGH
KONA_CRAMP_SHARE_OF_TENT_RECORDS = 2859 / 10553
BOSTON_2017_ENCOUNTERS_PER_1000_STARTERS = 2596 / 27211 * 1000
PRESENTATIONS_PER_1000_WARM_HIGH = KONA_CRAMP_SHARE_OF_TENT_RECORDS * BOSTON_2017_ENCOUNTERS_PER_1000_STARTERS

# ---------------------------------------------------------------- hazard parameters
# CALIBRATED (not from a source): whole-course cramp risk of the reference runner (no cramp
# history, on declared pace, WBGT at or below 15 °C, no pace collapse). Chosen so that the
# real Boston 2017 field (warm) lands near 21% survey prevalence, inside 15-25%, and cold
# 2018 near 15% (tests/simulate/test_calibration.py).
REFERENCE_CRAMP_RISK = 0.058

# History of EAMC: Manjra 1996, 536 of 1,383 marathoners had cramped (39%, derived); review
# figure for marathoners 30-50% (medicinetoday.com.au 2013).
MANJRA_1996_PRIOR_CRAMPS_SHARE = 536 / 1383
# Schwellnus 2011 (BJSM 45:1132): all 20 crampers vs 48% of controls had a history. That is
# an infinite ratio on 20 runners, so no finite RR can be read off it. ASSUMPTION: RR 4,
# which makes about 70% of crampers in a 39%-history field have a history (strong, not total).
PRIOR_CRAMPS_RR = 4.0

# Late pace collapse marks muscle damage: Del Coso 2013 (PLoS ONE 8:e57602) runners slowing
# > 15% had higher myoglobin and LDH; Martínez-Navarro 2022: crampers' relative speed
# diverged from km 25. The threshold (segment pace > 1.25 × own 5-20 km pace) is
# domain.SLOWDOWN_RATIO. ASSUMPTION: RR 2 (no published rate ratio), applied only to
# segments that start at or after 20 km (after the reference window).
COLLAPSE_RR = 2.0
COLLAPSE_REFERENCE_FROM_KM = 5.0
COLLAPSE_REFERENCE_TO_KM = 20.0
COLLAPSE_FROM_KM = 20.0

# Electrolyte drinks: NO effect. Schwellnus 2004 (BJSM 38:488), Maughan 1986, Schwellnus
# 2011 Ironman and Martínez-Navarro 2022 found no electrolyte or hydration difference. The
# survey field exists; the model gives it rate ratio exactly 1.
ELECTROLYTE_RR = 1.0
# ASSUMPTION (no stored source): 60% of runners report using electrolyte drinks.
ELECTROLYTE_DRINKS_SHARE = 0.60

# ---------------------------------------------------------------- report and survey fields
# Manjra 1996: muscles among crampers (multiple answers) calf 80%, hamstring 66%,
# quadriceps 48%. Each muscle is drawn independently; a report names one of the runner's
# muscles with weights proportional to these shares (calf 41%, hamstring 34%, quadriceps
# 25% after normalising).
MANJRA_1996_MUSCLE_SHARES = (("calf", 0.80), ("hamstring", 0.66), ("quadriceps", 0.48))
# South African Ironman survey: severity mild 77.5%, moderate 17.4%, severe 3.6% (sum
# 98.5%, normalised here).
SA_IRONMAN_SEVERITY_SHARES = (("mild", 0.775), ("moderate", 0.174), ("severe", 0.036))
# ASSUMPTION: treatment shares; passive stretching and massage is the usual field treatment
# of EAMC, fluids next. No stored source gives shares.
TREATMENT_SHARES = (
    ("stretch_massage", 0.75),
    ("oral_fluids", 0.15),
    ("rest", 0.05),
    ("ice", 0.03),
    ("iv_fluids", 0.01),
    ("other", 0.01),
)
# ASSUMPTION: 2% of finish-tent cramp presentations are transported, below Boston 2017's
# all-cause transport share (79 of 2,596 encounters = 3.0%, press) because cramps are
# mostly mild; the rest are discharged.
FINISH_TENT_TRANSPORTED_SHARE = 0.02
# ASSUMPTION: a runner who did not finish and presented on course left by ambulance in 10%
# of cases, else walked off as dnf. Finishers presenting on course returned to the race
# (their real finish says so).
NON_FINISHER_TRANSPORTED_SHARE = 0.10
# ASSUMPTION: a finisher reaches the finish tent 5-30 min (uniform) after crossing the line.
FINISH_TENT_DELAY_S = (300.0, 1800.0)

# ASSUMPTION: 30% of finishers answer the post-race survey, independently of whether they
# cramped (no response bias), 30 min after finishing (so a live replay shows them).
SURVEY_RESPONSE_RATE = 0.30
SURVEY_DELAY_S = 1800.0
# Martínez-Navarro 2022: strength training in 47.6% of non-crampers (25% of crampers,
# p = 0.074, not significant). Used as the share; the model gives it no effect.
STRENGTH_TRAINING_SHARE = 0.476
# ASSUMPTIONS, no effect in the model: plyometrics 20%, heat-acclimatised 15% (Boston in
# April, field mostly from cooler regions).
PLYOMETRICS_SHARE = 0.20
HEAT_ACCLIMATISED_SHARE = 0.15
# ASSUMPTIONS, no effect: weekly training km lognormal, median 55 km for a 4 h target and
# scaling with target speed, sigma 0.35; longest training run normal 32 ± 3 km (the
# "20-mile long run" habit), clipped to 16-45 km.
WEEKLY_KM_MEDIAN_AT_4H = 55.0
WEEKLY_KM_SIGMA = 0.35
LONGEST_RUN_KM_MEAN = 32.0
LONGEST_RUN_KM_SD = 3.0

# Rate-ratio comparisons reported by planted_rate_ratios(): late = at the plateau of the
# distance shape (from hazard.py's peak_from_km, 35 km), early = before its ramp (20 km).
# The baseline hazard is constant inside each, so a Poisson model with these km bands
# estimates exactly this ratio (1 / floor_weight); a band that spans the ramp (e.g. 30 km to
# the finish) has no single planted value: its estimate depends on who is still at risk.
# The hot comparison is WBGT 20 °C vs at or below the heat threshold (15 °C).
HOT_REFERENCE_WBGT_C = 20.0

# Independent random streams inside one seed (declared.py uses stream 1).
TRAITS_STREAM = 2
ONSET_STREAM = 3
PRESENTATION_STREAM = 4
DETAILS_STREAM = 5
SURVEY_STREAM = 6

STATION_POINT_KINDS = (PointKind.AID_STATION.value, PointKind.MEDICAL_TENT.value)


@dataclass(frozen=True)
class CrampModelParams:
    """Every parameter of the simulator's cramp model; sources at the constants above.

    `hazard` is the shared HazardParams of racecramp.marts.hazard: distance shape,
    faster-than-declared rate ratio, heat curve, presentations per 1000 starters and the
    finish-tent share all come from there, so alerts and simulator agree.
    """

    hazard: HazardParams = field(default_factory=HazardParams)
    reference_cramp_risk: float = REFERENCE_CRAMP_RISK
    prior_cramps_share: float = MANJRA_1996_PRIOR_CRAMPS_SHARE
    prior_cramps_rr: float = PRIOR_CRAMPS_RR
    collapse_ratio: float = SLOWDOWN_RATIO
    collapse_rr: float = COLLAPSE_RR
    collapse_reference_from_km: float = COLLAPSE_REFERENCE_FROM_KM
    collapse_reference_to_km: float = COLLAPSE_REFERENCE_TO_KM
    collapse_from_km: float = COLLAPSE_FROM_KM
    electrolyte_drinks_share: float = ELECTROLYTE_DRINKS_SHARE
    electrolyte_rr: float = ELECTROLYTE_RR
    muscle_shares: tuple[tuple[str, float], ...] = MANJRA_1996_MUSCLE_SHARES
    severity_shares: tuple[tuple[str, float], ...] = SA_IRONMAN_SEVERITY_SHARES
    treatment_shares: tuple[tuple[str, float], ...] = TREATMENT_SHARES
    finish_tent_transported_share: float = FINISH_TENT_TRANSPORTED_SHARE
    non_finisher_transported_share: float = NON_FINISHER_TRANSPORTED_SHARE
    finish_tent_delay_s: tuple[float, float] = FINISH_TENT_DELAY_S
    survey_response_rate: float = SURVEY_RESPONSE_RATE
    survey_delay_s: float = SURVEY_DELAY_S
    strength_training_share: float = STRENGTH_TRAINING_SHARE
    plyometrics_share: float = PLYOMETRICS_SHARE
    heat_acclimatised_share: float = HEAT_ACCLIMATISED_SHARE
    weekly_km_median_at_4h: float = WEEKLY_KM_MEDIAN_AT_4H
    weekly_km_sigma: float = WEEKLY_KM_SIGMA
    longest_run_km_mean: float = LONGEST_RUN_KM_MEAN
    longest_run_km_sd: float = LONGEST_RUN_KM_SD

    def __post_init__(self) -> None:
        shares = (
            "prior_cramps_share",
            "electrolyte_drinks_share",
            "finish_tent_transported_share",
            "non_finisher_transported_share",
            "survey_response_rate",
            "strength_training_share",
            "plyometrics_share",
            "heat_acclimatised_share",
        )
        for name in shares:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"CrampModelParams.{name}={value!r}: expected a share between 0 and 1")
        if not 0.0 < self.reference_cramp_risk < 1.0:
            raise ValueError(
                f"CrampModelParams.reference_cramp_risk={self.reference_cramp_risk!r}: expected between 0 and 1 (exclusive)"
            )
        for name in ("prior_cramps_rr", "collapse_rr", "electrolyte_rr", "collapse_ratio"):
            if getattr(self, name) <= 0:
                raise ValueError(f"CrampModelParams.{name}={getattr(self, name)!r}: expected > 0")
        if not self.collapse_reference_from_km < self.collapse_reference_to_km:
            raise ValueError(
                f"CrampModelParams.collapse_reference_from_km={self.collapse_reference_from_km!r}: "
                f"expected below collapse_reference_to_km={self.collapse_reference_to_km!r}"
            )
        for name in ("muscle_shares", "severity_shares", "treatment_shares"):
            pairs = getattr(self, name)
            if not pairs or any(share < 0 for _, share in pairs) or sum(s for _, s in pairs) <= 0:
                raise ValueError(f"CrampModelParams.{name}={pairs!r}: expected (label, share >= 0) pairs with a positive sum")
        low, high = self.finish_tent_delay_s
        if not 0 <= low <= high:
            raise ValueError(f"CrampModelParams.finish_tent_delay_s={self.finish_tent_delay_s!r}: expected 0 <= low <= high")
        if self.presentation_probability > 1.0:
            raise ValueError(
                f"CrampModelParams: hazard.presentations_per_1000_starters={self.hazard.presentations_per_1000_starters} "
                f"needs a presentation probability of {self.presentation_probability:.3f} per cramper; expected <= 1 "
                f"(raise reference_cramp_risk or lower the presentations)"
            )

    @property
    def reference_hazard(self) -> float:
        """Λ0: whole-course cumulative hazard of the reference runner."""
        return -math.log1p(-self.reference_cramp_risk)

    @property
    def reference_population_cramp_risk(self) -> float:
        """Cramp risk of an on-pace runner in the cool, averaged over cramp history."""
        p, rr, base = self.prior_cramps_share, self.prior_cramps_rr, self.reference_hazard
        return p * -math.expm1(-base * rr) + (1 - p) * -math.expm1(-base)

    @property
    def presentation_probability(self) -> float:
        """P(present at a station | cramped), so that an on-pace runner in the cool presents
        hazard.presentations_per_1000_starters times per 1000, as the alerts expect."""
        return self.hazard.per_starter / self.reference_population_cramp_risk


def _float_of(expr: pl.Expr) -> float:
    return float(pl.select(expr).item())


def heat_rate_ratio(wbgt_c: float, params: CrampModelParams = CrampModelParams()) -> float:
    """Planted hazard rate ratio at wbgt_c relative to a WBGT at or below the heat threshold."""
    return _float_of(heat_multiplier(float(wbgt_c), params.hazard))


def late_vs_early_rate_ratio(params: CrampModelParams = CrampModelParams()) -> float:
    """Planted ratio of the hazard per km on the plateau (from peak_from_km) to that before
    the ramp (before ramp_start_km): both constant, so the ratio is 1 / floor_weight."""
    hp = params.hazard
    return _float_of(km_weight(hp.peak_from_km, hp)) / _float_of(km_weight(0.0, hp))


def planted_rate_ratios(params: CrampModelParams = CrampModelParams()) -> dict[str, float]:
    """The rate ratios the simulator plants, on the hazard of a first cramp per km at risk.

    They are conditional (each with the other factors held fixed): crude ratios from a
    race are confounded (heat comes later in the day, so it goes with late km), and risks
    ("cramped at all") saturate, so they are smaller than these rate ratios.
    """
    return {
        "late_vs_early_km": late_vs_early_rate_ratio(params),
        "hot_vs_cool": heat_rate_ratio(HOT_REFERENCE_WBGT_C, params),
        "faster_than_declared_vs_on_pace": params.hazard.fast_pace_rr,
        "prior_cramps_vs_none": params.prior_cramps_rr,
        "pace_collapse_vs_steady": params.collapse_rr,
        "electrolyte_drinks_vs_none": params.electrolyte_rr,
    }


# ---------------------------------------------------------------- runner timelines and segments


def _as_frame(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    return frame.collect() if isinstance(frame, pl.LazyFrame) else frame


def runner_timelines(
    participants: pl.DataFrame, passings: pl.DataFrame, course_km: float = MARATHON_KM
) -> pl.DataFrame:
    """Each runner's real timing points in km order: race_id, bib, km, net_time_s, at_utc.

    at_utc is passed_at_utc, or wave_start_utc + net_time_s when the feed gives net times
    only. A finisher without a passing at the finish gets one from official_time_s. Points
    whose net time does not increase along the course (feed glitches) are dropped.
    """
    participants = _as_frame(participants)
    passings = _as_frame(passings)
    require_columns(participants, "participants", ("race_id", "bib", "wave_start_utc", "finished", "official_time_s"))
    require_columns(passings, "passings", ("race_id", "bib", "km", "net_time_s", "passed_at_utc"))
    runners = participants.select(
        "race_id", "bib", pl.col("wave_start_utc").cast(UTC_DT), "finished", pl.col("official_time_s").cast(pl.Float64)
    )
    seen = passings.select(
        "race_id",
        "bib",
        pl.col("km").cast(pl.Float64),
        pl.col("net_time_s").cast(pl.Float64),
        pl.col("passed_at_utc").cast(UTC_DT),
    ).join(runners, on=["race_id", "bib"], how="inner")
    seen = seen.select(
        "race_id",
        "bib",
        "km",
        "net_time_s",
        pl.coalesce(
            pl.col("passed_at_utc"), pl.col("wave_start_utc") + pl.duration(microseconds=(pl.col("net_time_s") * 1e6).round())
        ).alias("at_utc"),
    )
    at_finish = seen.filter(pl.col("km") >= course_km - 1e-6).select("race_id", "bib").unique()
    from_official = (
        runners.filter(pl.col("finished") & pl.col("official_time_s").is_not_null() & pl.col("wave_start_utc").is_not_null())
        .join(at_finish, on=["race_id", "bib"], how="anti")
        .select(
            "race_id",
            "bib",
            pl.lit(float(course_km)).alias("km"),
            pl.col("official_time_s").alias("net_time_s"),
            (pl.col("wave_start_utc") + pl.duration(microseconds=(pl.col("official_time_s") * 1e6).round())).alias("at_utc"),
        )
    )
    timeline = (
        pl.concat([seen, from_official])
        .filter((pl.col("km") > 0) & (pl.col("net_time_s") > 0) & pl.col("at_utc").is_not_null())
        .sort("race_id", "bib", "km", "net_time_s")
        .unique(["race_id", "bib", "km"], keep="first", maintain_order=True)
    )
    return timeline.filter(
        pl.col("net_time_s")
        > pl.col("net_time_s").cum_max().shift(1).over("race_id", "bib").fill_null(0.0)
    )


def _reference_pace(timeline: pl.DataFrame, params: CrampModelParams) -> pl.DataFrame:
    eps = 1e-6
    first = (
        timeline.filter(pl.col("km") >= params.collapse_reference_from_km - eps)
        .group_by("race_id", "bib")
        .agg(pl.col("km").first().alias("km_a"), pl.col("net_time_s").first().alias("t_a"))
    )
    last = (
        timeline.filter(pl.col("km") <= params.collapse_reference_to_km + eps)
        .group_by("race_id", "bib")
        .agg(pl.col("km").last().alias("km_b"), pl.col("net_time_s").last().alias("t_b"))
    )
    min_span = 0.5 * (params.collapse_reference_to_km - params.collapse_reference_from_km)
    return (
        first.join(last, on=["race_id", "bib"], how="inner")
        .filter(pl.col("km_b") - pl.col("km_a") >= min_span)
        .select("race_id", "bib", ((pl.col("t_b") - pl.col("t_a")) / (pl.col("km_b") - pl.col("km_a"))).alias("reference_pace_s_per_km"))
    )


def _weather_series(weather: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    weather = _as_frame(weather)
    require_columns(weather, "weather", ("observed_at_utc", "wbgt_c"))
    if "source" in weather.columns:
        chosen = preferred_weather_source(weather.lazy()).collect()
        if chosen.height:
            weather = weather.filter(pl.col("source") == chosen["source"][0])
    series = (
        weather.select(pl.col("observed_at_utc").cast(UTC_DT), pl.col("wbgt_c").cast(pl.Float64))
        .filter(pl.col("wbgt_c").is_not_null() & pl.col("wbgt_c").is_not_nan())
        .group_by("observed_at_utc")
        .agg(pl.col("wbgt_c").mean())
        .sort("observed_at_utc")
    )
    if series.height == 0:
        raise ValueError("weather: no row with a wbgt_c value; expected race-day observations passed through transforms.heat.with_heat")
    return series["observed_at_utc"].dt.epoch("us").to_numpy().astype(np.float64), series["wbgt_c"].to_numpy()


def wbgt_at(times_utc: pl.Series, weather: pl.DataFrame) -> pl.Series:
    """WBGT (°C) linearly interpolated in time; held at the first/last value outside the series."""
    x, y = _weather_series(weather)
    t = times_utc.cast(UTC_DT).dt.epoch("us").to_numpy().astype(np.float64)
    return pl.Series("wbgt_c", np.interp(t, x, y), dtype=pl.Float64)


def runner_segments(
    participants: pl.DataFrame,
    passings: pl.DataFrame,
    weather: pl.DataFrame,
    params: CrampModelParams = CrampModelParams(),
) -> pl.DataFrame:
    """One row per runner per stretch between consecutive real timing points, with the
    covariates of the hazard: relative_pace, fast, collapsed, wbgt_c.

    relative_pace = cumulative pace at the segment's start point / declared pace (the first
    segment uses its own pace); collapsed = the segment starts at or after collapse_from_km
    and its real pace exceeds collapse_ratio × the runner's own 5-20 km pace; wbgt_c is the
    WBGT at the runner's wall-clock time at the segment's midpoint.
    """
    participants = _as_frame(participants)
    require_columns(participants, "participants", ("race_id", "bib", "declared_finish_s"))
    course_km = params.hazard.course_km
    timeline = runner_timelines(participants, passings, course_km)
    reference = _reference_pace(timeline, params)
    declared = participants.select(
        "race_id", "bib", (pl.col("declared_finish_s").cast(pl.Float64) / course_km).alias("declared_pace_s_per_km")
    )
    by_runner = ("race_id", "bib")
    segments = (
        timeline.with_columns(
            pl.col("km").shift(1).over(by_runner).fill_null(0.0).alias("km_from"),
            pl.col("net_time_s").shift(1).over(by_runner).fill_null(0.0).alias("net_time_from_s"),
            pl.coalesce(
                pl.col("at_utc").shift(1).over(by_runner),
                pl.col("at_utc") - pl.duration(microseconds=(pl.col("net_time_s") * 1e6).round()),
            ).alias("at_from_utc"),
        )
        .rename({"km": "km_to", "net_time_s": "net_time_to_s", "at_utc": "at_to_utc"})
        .join(reference, on=list(by_runner), how="left")
        .join(declared, on=list(by_runner), how="left")
        .with_columns(
            ((pl.col("net_time_to_s") - pl.col("net_time_from_s")) / (pl.col("km_to") - pl.col("km_from"))).alias(
                "segment_pace_s_per_km"
            ),
            pl.when(pl.col("km_from") > 0)
            .then(pl.col("net_time_from_s") / pl.col("km_from"))
            .otherwise(pl.col("net_time_to_s") / pl.col("km_to"))
            .alias("pace_so_far_s_per_km"),
            (pl.col("at_from_utc") + (pl.col("at_to_utc") - pl.col("at_from_utc")) / 2).alias("mid_at_utc"),
        )
        .with_columns(
            (pl.col("pace_so_far_s_per_km") / pl.col("declared_pace_s_per_km")).alias("relative_pace"),
            (
                (pl.col("km_from") >= params.collapse_from_km - 1e-6)
                & (pl.col("segment_pace_s_per_km") > params.collapse_ratio * pl.col("reference_pace_s_per_km"))
            )
            .fill_null(False)
            .alias("collapsed"),
        )
        .with_columns((pl.col("relative_pace") < params.hazard.fast_pace_below).fill_null(False).alias("fast"))
    )
    segments = segments.with_columns(wbgt_at(segments["mid_at_utc"], weather))
    return segments.select(
        "race_id",
        "bib",
        "km_from",
        "km_to",
        "net_time_from_s",
        "net_time_to_s",
        "at_from_utc",
        "at_to_utc",
        "mid_at_utc",
        "segment_pace_s_per_km",
        "reference_pace_s_per_km",
        "declared_pace_s_per_km",
        "relative_pace",
        "fast",
        "collapsed",
        "wbgt_c",
    ).sort("race_id", "bib", "km_from")


# ---------------------------------------------------------------- traits, hazard, onsets


def draw_runner_traits(participants: pl.DataFrame, seed: int, params: CrampModelParams = CrampModelParams()) -> pl.DataFrame:
    """Latent runner traits in (race_id, bib) order: prior_cramps, electrolyte_drinks."""
    runners = _as_frame(participants).select("race_id", "bib").sort("race_id", "bib")
    draws = stream_rng(seed, TRAITS_STREAM).random((runners.height, 2))
    return runners.with_columns(
        pl.Series("prior_cramps", draws[:, 0] < params.prior_cramps_share, dtype=pl.Boolean),
        pl.Series("electrolyte_drinks", draws[:, 1] < params.electrolyte_drinks_share, dtype=pl.Boolean),
    )


def with_segment_hazard(
    segments: pl.DataFrame, traits: pl.DataFrame, params: CrampModelParams = CrampModelParams()
) -> pl.DataFrame:
    """Segments plus each planted multiplier and `hazard`, the segment's cumulative hazard."""
    require_columns(segments, "segments", ("race_id", "bib", "km_from", "km_to", "relative_pace", "collapsed", "wbgt_c"))
    require_columns(traits, "traits", ("race_id", "bib", "prior_cramps", "electrolyte_drinks"))
    hp = params.hazard
    return (
        segments.join(traits.select("race_id", "bib", "prior_cramps", "electrolyte_drinks"), on=["race_id", "bib"], how="left")
        .with_columns(
            on_course_share("km_from", "km_to", hp).alias("km_share"),
            pace_multiplier("relative_pace", hp).alias("pace_multiplier"),
            heat_multiplier("wbgt_c", hp).alias("heat_multiplier"),
            pl.when(pl.col("collapsed")).then(params.collapse_rr).otherwise(1.0).alias("collapse_multiplier"),
            pl.when(pl.col("prior_cramps")).then(params.prior_cramps_rr).otherwise(1.0).alias("prior_cramps_multiplier"),
            pl.when(pl.col("electrolyte_drinks")).then(params.electrolyte_rr).otherwise(1.0).alias("electrolyte_multiplier"),
        )
        .with_columns(
            (
                params.reference_hazard
                * pl.col("km_share")
                * pl.col("pace_multiplier")
                * pl.col("heat_multiplier")
                * pl.col("collapse_multiplier")
                * pl.col("prior_cramps_multiplier")
                * pl.col("electrolyte_multiplier")
            ).alias("hazard")
        )
        .with_columns(pl.col("hazard").cum_sum().over("race_id", "bib").alias("cumulative_hazard_to"))
        .with_columns((pl.col("cumulative_hazard_to") - pl.col("hazard")).alias("cumulative_hazard_from"))
    )


def _km_where_cumulative_weight(target: np.ndarray, low: np.ndarray, high: np.ndarray, hp: HazardParams) -> np.ndarray:
    """Solve km_weight_cumulative(x) = target for x in [low, high] by bisection (monotone)."""
    lo, hi = low.astype(np.float64).copy(), high.astype(np.float64).copy()
    for _ in range(60):
        mid = (lo + hi) / 2
        value = pl.select(km_weight_cumulative(pl.lit(pl.Series(mid, dtype=pl.Float64)), hp)).to_series().to_numpy()
        below = value < target
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return (lo + hi) / 2


def draw_onsets(
    hazard_segments: pl.DataFrame, participants: pl.DataFrame, seed: int, params: CrampModelParams = CrampModelParams()
) -> pl.DataFrame:
    """Per runner (race_id, bib order): cumulative_hazard, cramped, onset_km, onset_at_utc
    and the onset segment's covariates. The onset is where the cumulative hazard first
    exceeds the runner's Exp(1) draw; inside a segment it follows the distance shape."""
    runners = _as_frame(participants).select("race_id", "bib").sort("race_id", "bib")
    threshold = stream_rng(seed, ONSET_STREAM).standard_exponential(runners.height)
    runners = runners.with_columns(pl.Series("_threshold", threshold, dtype=pl.Float64))
    totals = hazard_segments.group_by("race_id", "bib").agg(pl.col("hazard").sum().alias("cumulative_hazard"))
    onset_segments = (
        hazard_segments.join(runners, on=["race_id", "bib"], how="inner")
        .filter(
            (pl.col("cumulative_hazard_from") < pl.col("_threshold")) & (pl.col("_threshold") <= pl.col("cumulative_hazard_to"))
        )
        .sort("race_id", "bib", "km_from")
        .unique(["race_id", "bib"], keep="first", maintain_order=True)
    )
    hp = params.hazard
    if onset_segments.height:
        w_from = pl.select(km_weight_cumulative(pl.lit(onset_segments["km_from"]), hp)).to_series().to_numpy()
        w_to = pl.select(km_weight_cumulative(pl.lit(onset_segments["km_to"]), hp)).to_series().to_numpy()
        fraction = (
            (onset_segments["_threshold"] - onset_segments["cumulative_hazard_from"]) / onset_segments["hazard"]
        ).to_numpy()
        onset_km = _km_where_cumulative_weight(
            w_from + fraction * (w_to - w_from), onset_segments["km_from"].to_numpy(), onset_segments["km_to"].to_numpy(), hp
        )
    else:
        onset_km = np.zeros(0)
    onset_segments = onset_segments.with_columns(pl.Series("onset_km", onset_km, dtype=pl.Float64)).with_columns(
        (
            pl.col("at_from_utc")
            + (pl.col("at_to_utc") - pl.col("at_from_utc"))
            * ((pl.col("onset_km") - pl.col("km_from")) / (pl.col("km_to") - pl.col("km_from")))
        )
        .dt.cast_time_unit("us")
        .alias("onset_at_utc")
    )
    return (
        runners.drop("_threshold")
        .join(totals, on=["race_id", "bib"], how="left")
        .join(
            onset_segments.select(
                "race_id",
                "bib",
                "onset_km",
                "onset_at_utc",
                pl.col("km_from").alias("onset_segment_km_from"),
                pl.col("km_to").alias("onset_segment_km_to"),
                pl.col("fast").alias("onset_fast"),
                pl.col("collapsed").alias("onset_collapsed"),
                pl.col("wbgt_c").alias("onset_wbgt_c"),
            ),
            on=["race_id", "bib"],
            how="left",
        )
        .with_columns(pl.col("cumulative_hazard").fill_null(0.0), pl.col("onset_km").is_not_null().alias("cramped"))
    )


def medical_stations(course_points: pl.DataFrame, course_km: float) -> tuple[pl.DataFrame, str]:
    """Stations where a runner can present (aid stations and medical tents, km order) and the
    point_id of the finish-area tent (a medical tent at the finish km, else the finish)."""
    points = _as_frame(course_points)
    require_columns(points, "course_points", ("point_id", "kind", "km"))
    points = points.with_columns(pl.col("km").cast(pl.Float64))
    stations = points.filter(pl.col("kind").is_in(STATION_POINT_KINDS)).sort("km", "point_id")
    at_finish = points.filter(pl.col("km") >= course_km - 1e-6).with_columns(
        pl.when(pl.col("kind") == PointKind.MEDICAL_TENT.value).then(0).otherwise(1).alias("_pref")
    )
    if at_finish.height == 0:
        raise ValueError(
            f"course_points: no point at the finish km {course_km}; expected a medical tent (med-finish) or the finish there"
        )
    finish_tent = at_finish.sort("_pref", "point_id")["point_id"][0]
    if finish_tent not in stations["point_id"].to_list():
        stations = pl.concat([stations, points.filter(pl.col("point_id") == finish_tent).select(stations.columns)])
    return stations.select("point_id", "kind", "km").sort("km", "point_id"), finish_tent
