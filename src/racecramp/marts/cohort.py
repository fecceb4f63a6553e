"""Rate ratios of a first cramp per km at risk in the finisher-survey cohort.

Survey respondents are a cohort: each contributes km at risk along their real splits until
the km where they say the cramp began (onset_km), or the finish. Each stretch between two
timing points carries the covariates of that stretch:

- km band, by the stretch's mid km: before 20 km (reference), 20-25, 25-30, 30-35, from 35 km.
  The cuts follow the distance shape of transforms.hazard (flat before its 20 km ramp,
  peak from 35 km), so the first and last bands each have one baseline;
- heat: WBGT at the runner's wall-clock time at the stretch's midpoint (interpolated between
  the observations around it, heat.asof_weather), in 1 °C bins (nearest whole degree) above HEAT_REFERENCE_MAX_C, against
  "cool" (at or below it). Narrow bins keep heat from being confounded with distance inside
  a bin (in a race that warms or cools through the day, early and late km would fall in
  different parts of a wide band) and assume no shape for the dose-response;
- faster than declared: pace so far at the stretch's start (the first stretch: its own
  pace) below RELATIVE_PACE_FAST_BELOW × the declared pace;
- pace collapse: a stretch from 20 km run slower than SLOWDOWN_RATIO × the runner's own
  5-20 km pace;
- prior cramps and electrolyte drinks, as answered.

A Poisson model of first cramps with log(km at risk) as offset (statsmodels GLM on the
cells of identical covariates, which gives the same estimates as one row per stretch) gives
each rate ratio adjusted for the others, with a Wald 95% CI. Read them as associations in
respondents, not causes; a rate ratio here is per km at risk, so it is larger than the
ratio of "ever cramped" shares.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl
import statsmodels.api as sm

from racecramp.domain import RELATIVE_PACE_FAST_BELOW, SLOWDOWN_RATIO
from racecramp.marts.heat import asof_weather

Frame = pl.DataFrame | pl.LazyFrame

# km bands: (upper bound of the band's mid km, label); the last is open.
KM_BANDS = ((20.0, "early"), (25.0, "20-25"), (30.0, "25-30"), (35.0, "30-35"))
KM_LATE_LABEL = "late"
COLLAPSE_REFERENCE_KM = (5.0, 20.0)  # own pace over 5-20 km, as transforms.slowdown
COLLAPSE_FROM_KM = 20.0
# Heat: "cool" is WBGT at or below 15 °C, where the heat effect on cramping is taken to start
# (transforms.hazard.HEAT_THRESHOLD_WBGT_C, Roberts 2007); the model's heat term is degrees
# above it. The hot comparison point is 20 °C (mid "yellow" flag).
HEAT_REFERENCE_MAX_C = 15.0
HEAT_COOL_LABEL = "cool"

# (term, comparison, covariate column, level compared, reference level)
TERMS = (
    ("km_20_25_vs_early", "km 20-25 vs before 20", "km_band", "20-25", "early"),
    ("km_25_30_vs_early", "km 25-30 vs before 20", "km_band", "25-30", "early"),
    ("km_30_35_vs_early", "km 30-35 vs before 20", "km_band", "30-35", "early"),
    ("late_vs_early_km", "km 35 on vs before 20", "km_band", "late", "early"),
    ("faster_than_declared_vs_on_pace", "pace so far < 0.95 x declared vs not", "fast", True, False),
    ("pace_collapse_vs_steady", "stretch > 1.25 x own 5-20 km pace vs not", "collapsed", True, False),
    ("prior_cramps_vs_none", "history of cramping vs none", "prior_cramps", True, False),
    ("electrolyte_drinks_vs_none", "electrolyte drinks vs none", "electrolyte_drinks", True, False),
)

OPTIONAL_FACTORS = ("fast", "prior_cramps", "electrolyte_drinks")

RESULT_SCHEMA = {
    "term": pl.String, "comparison": pl.String, "rate_ratio": pl.Float64, "ci_low": pl.Float64,
    "ci_high": pl.Float64, "p_value": pl.Float64, "events": pl.Int64, "km_at_risk": pl.Float64,
    "respondents": pl.Int64, "simulated": pl.Boolean,
}


def _km_band(mid_km: pl.Expr) -> pl.Expr:
    expr = pl.when(mid_km < KM_BANDS[0][0]).then(pl.lit(KM_BANDS[0][1]))
    for upper, label in KM_BANDS[1:]:
        expr = expr.when(mid_km < upper).then(pl.lit(label))
    return expr.otherwise(pl.lit(KM_LATE_LABEL))


def cohort_stretches(survey_responses: Frame, segments: Frame, weather_with_heat: Frame) -> pl.LazyFrame:
    """One row per respondent per stretch at risk: km_at_risk, event (0/1) and covariates.

    segments: transforms.exposure.runner_segments (real splits, declared pace).
    Respondents without a usable answer (cramped null, a cramper without onset_km) or without
    splits are left out; prior_cramps / electrolyte_drinks null is its own level (left out of
    the model).
    """
    survey = (
        survey_responses.lazy()
        .filter(pl.col("cramped").is_not_null() & (~pl.col("cramped") | pl.col("onset_km").is_not_null()))
        .select("race_id", "bib", "cramped", "onset_km", "prior_cramps", "electrolyte_drinks", pl.col("simulated").alias("_survey_simulated"))
        .unique(["race_id", "bib"], keep="first")
    )
    by_runner = ("race_id", "bib")
    seg = segments.lazy().sort("race_id", "bib", "from_km")
    net_at = lambda km: (  # noqa: E731
        pl.when((pl.col("to_km") - km).abs() < 1e-6).then(pl.col("net_time_s")).max().over(by_runner)
    )
    lo, hi = COLLAPSE_REFERENCE_KM
    seg = seg.with_columns(
        pl.coalesce(pl.col("pace_so_far_s_per_km").shift(1).over(by_runner), pl.col("segment_pace_s_per_km")).alias("_pace_at_start"),
        ((net_at(hi) - net_at(lo)) / (hi - lo)).alias("_reference_pace"),
        (pl.col("entered_at_utc") + (pl.col("left_at_utc") - pl.col("entered_at_utc")) / 2).alias("mid_at_utc"),
    )
    joined = seg.join(survey, on=list(by_runner), how="inner")
    onset = pl.col("onset_km")
    at_risk = joined.filter(~pl.col("cramped") | (pl.col("from_km") < onset)).with_columns(
        (pl.col("cramped") & (onset <= pl.col("to_km"))).alias("_event_here")
    )
    stretches = at_risk.with_columns(
        pl.when(pl.col("_event_here")).then(onset - pl.col("from_km")).otherwise(pl.col("to_km") - pl.col("from_km")).alias("km_at_risk"),
        pl.col("_event_here").cast(pl.Int64).alias("event"),
        _km_band((pl.col("from_km") + pl.col("to_km")) / 2)
        .alias("km_band"),
        (pl.col("_pace_at_start") < RELATIVE_PACE_FAST_BELOW * pl.col("declared_pace_s_per_km")).alias("fast"),
        (
            (pl.col("from_km") >= COLLAPSE_FROM_KM - 1e-6)
            & (pl.col("segment_pace_s_per_km") > SLOWDOWN_RATIO * pl.col("_reference_pace"))
        )
        .fill_null(False)
        .alias("collapsed"),
    ).filter(pl.col("km_at_risk") > 0)
    with_weather = asof_weather(stretches, weather_with_heat.lazy(), "mid_at_utc", by="race_id")
    return with_weather.with_columns(
        pl.when(pl.col("wbgt_c") <= HEAT_REFERENCE_MAX_C)
        .then(pl.lit(HEAT_COOL_LABEL))
        .otherwise(pl.col("wbgt_c").round(0).cast(pl.Int64).cast(pl.String))
        .alias("heat_band"),
        (pl.col("simulated").fill_null(False) | pl.col("_survey_simulated").fill_null(False)).alias("simulated"),
    ).select(
        "race_id", "bib", "from_km", "to_km", "km_at_risk", "event", "km_band", "wbgt_c", "heat_band",
        "fast", "collapsed", "prior_cramps", "electrolyte_drinks", "simulated",
    )


def cohort_rate_ratios(stretches: Frame) -> pl.DataFrame:
    """Adjusted rate ratios (Poisson, offset log km at risk) for each term of TERMS whose
    level and reference both have exposure; an empty frame when there is no event."""
    stretches = stretches.lazy()
    # a factor nobody has (no declared times, a survey without the question) leaves the model;
    # a factor some lack drops those stretches
    nulls = stretches.select(pl.col(c).null_count().alias(c) for c in OPTIONAL_FACTORS).collect().row(0, named=True)
    total = stretches.select(pl.len()).collect().item()
    absent = [c for c, n in nulls.items() if total and n == total]
    cells = (
        stretches.with_columns(pl.lit(False).alias(c) for c in absent)
        .drop_nulls(["heat_band", "km_band", *OPTIONAL_FACTORS])
        .group_by("km_band", "heat_band", "fast", "collapsed", "prior_cramps", "electrolyte_drinks")
        .agg(pl.col("event").sum().alias("events"), pl.col("km_at_risk").sum(), pl.col("simulated").any())
        .sort("km_band", "heat_band", "fast", "collapsed", "prior_cramps", "electrolyte_drinks")
        .collect()
    )
    respondents = stretches.lazy().select(pl.struct("race_id", "bib").n_unique()).collect().item()
    if cells.height == 0 or cells["events"].sum() == 0:
        return pl.DataFrame(schema=RESULT_SCHEMA)
    heat_bins = sorted(int(b) for b in cells["heat_band"].unique().to_list() if b != HEAT_COOL_LABEL)
    heat_terms = tuple(
        (f"wbgt_{b}_vs_cool", f"WBGT {b - 0.5:g}-{b + 0.5:g} vs <={HEAT_REFERENCE_MAX_C:g} °C", "heat_band", str(b), HEAT_COOL_LABEL)
        for b in heat_bins
    )
    columns: dict[str, np.ndarray] = {}
    kept: list[tuple] = []
    for term in TERMS + heat_terms:
        _, _, covariate, level, reference = term
        has_level = cells.filter(pl.col(covariate) == level)["km_at_risk"].sum() > 0
        has_reference = cells.filter(pl.col(covariate) == reference)["km_at_risk"].sum() > 0
        if has_level and has_reference:
            columns[term[0]] = (cells[covariate] == level).cast(pl.Float64).to_numpy()
            kept.append(term)
    design = np.column_stack([np.ones(cells.height), *columns.values()])
    model = sm.GLM(
        cells["events"].to_numpy().astype(float), design, family=sm.families.Poisson(), offset=np.log(cells["km_at_risk"].to_numpy())
    ).fit()
    ci = model.conf_int(alpha=0.05)
    simulated = bool(cells["simulated"].any())

    def row(term: str, comparison: str, i: int, level_cells: pl.DataFrame) -> dict:
        return {
            "term": term, "comparison": comparison, "rate_ratio": float(np.exp(model.params[i])),
            "ci_low": float(np.exp(ci[i, 0])), "ci_high": float(np.exp(ci[i, 1])), "p_value": float(model.pvalues[i]),
            "events": int(level_cells["events"].sum()), "km_at_risk": float(level_cells["km_at_risk"].sum()),
            "respondents": int(respondents), "simulated": simulated,
        }

    rows = [row(term, comparison, i, cells.filter(pl.col(covariate) == level)) for i, (term, comparison, covariate, level, _) in enumerate(kept, start=1)]
    return pl.DataFrame(rows, schema=RESULT_SCHEMA)


def survey_rate_ratios(survey_responses: pl.DataFrame, passings: Frame, participants: Frame, course_points: Frame,
                       weather_observations: Frame, computed_at_utc: datetime) -> pl.DataFrame:
    """Survey-cohort rate ratios pooled over every race given, with the number of survey rows used
    and when, so a later cycle can tell whether it is stale (marts.registry: refresh_after_s)."""
    from racecramp.marts.exposure import runner_segments
    from racecramp.marts.heat import with_heat

    stamp = (
        pl.lit(survey_responses.height, pl.Int64).alias("survey_rows"),
        pl.lit(computed_at_utc).cast(pl.Datetime("us", "UTC")).alias("computed_at_utc"),
    )
    if survey_responses.height == 0:
        return pl.DataFrame(schema=RESULT_SCHEMA).with_columns(*stamp)
    segments = runner_segments(passings, participants, course_points)
    weather = with_heat(weather_observations.lazy())
    return cohort_rate_ratios(cohort_stretches(survey_responses, segments, weather)).with_columns(*stamp)
