"""Post-race survey: cramp prevalence among respondents, and odds ratios for candidate risk factors.

Every row carries note = ASSOCIATION_NOTE. Respondents choose themselves and answer after
the race, and the factors are not randomised. An odds ratio here describes the
respondents; it is not a causal effect of the factor.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from racecramp.marts.stats import odds_ratio_ci, with_rate_columns

ASSOCIATION_NOTE = "association, not causation (self-selected survey respondents)"

BOOLEAN_FACTORS = ("strength_training", "plyometrics", "electrolyte_drinks", "heat_acclimatised", "prior_cramps")

# Binarised training volume; "exposed" means below the cut-off. These are operational
# cut-offs, not from the literature. They are round numbers below what common marathon
# plans build to: about 40 km/week and a longest run of 30-32 km.
WEEKLY_KM_LOW_BELOW = 40.0
LONGEST_RUN_SHORT_BELOW_KM = 30.0

FACTORS: tuple[tuple[str, str, pl.Expr], ...] = (
    *((name, f"{name} = true", pl.col(name)) for name in BOOLEAN_FACTORS),
    ("weekly_km_under_40", f"weekly_km < {WEEKLY_KM_LOW_BELOW:g}", pl.col("weekly_km") < WEEKLY_KM_LOW_BELOW),
    (
        "longest_run_under_30_km",
        f"longest_training_run_km < {LONGEST_RUN_SHORT_BELOW_KM:g}",
        pl.col("longest_training_run_km") < LONGEST_RUN_SHORT_BELOW_KM,
    ),
)

Frame = pl.DataFrame | pl.LazyFrame


def _require(frame: pl.LazyFrame, columns: tuple[str, ...]) -> None:
    have = frame.collect_schema().names()
    missing = [c for c in columns if c not in have]
    if missing:
        raise ValueError(f"survey_responses has no column {missing[0]!r}; expected the columns of docs/warehouse.md")


def _odds_ratio_batch(cells: pl.Series) -> pl.Series:
    frame = cells.struct.unnest()
    rows = [odds_ratio_ci(*row) for row in zip(*(frame[c].cast(pl.Float64).to_list() for c in ("a", "b", "c", "d")))]
    values = np.array(rows, dtype=float).reshape(-1, 3)
    return (
        pl.DataFrame({"odds_ratio": values[:, 0], "or_ci_low": values[:, 1], "or_ci_high": values[:, 2]})
        .with_columns(pl.all().fill_nan(None))
        .to_struct(cells.name)
    )


def survey_risk_factors(survey_responses: Frame) -> pl.LazyFrame:
    """Per race and factor: exposed/unexposed respondents, how many cramped, prevalences, OR with Woolf CI.

    Exposed means the factor is true (booleans), or below the cut-off for weekly_km <
    WEEKLY_KM_LOW_BELOW and longest_training_run_km < LONGEST_RUN_SHORT_BELOW_KM. Respondents
    with no answer on `cramped`, or on the factor, are left out of that factor's row.
    The odds ratio compares the odds of cramping, exposed vs unexposed. A zero cell gets the
    Haldane +0.5 correction; the OR is null when one group is empty (see stats.odds_ratio_ci).
    """
    responses = survey_responses.lazy()
    _require(responses, ("race_id", "cramped", "weekly_km", "longest_training_run_km", "simulated", *BOOLEAN_FACTORS))
    answered = responses.filter(pl.col("cramped").is_not_null())
    parts = []
    for order, (factor, definition, exposed) in enumerate(FACTORS):
        parts.append(
            answered.with_columns(exposed.alias("_exposed"))
            .filter(pl.col("_exposed").is_not_null())
            .group_by("race_id")
            .agg(
                pl.col("_exposed").sum().alias("exposed_n"),
                (pl.col("_exposed") & pl.col("cramped")).sum().alias("exposed_cramped"),
                (~pl.col("_exposed")).sum().alias("unexposed_n"),
                (~pl.col("_exposed") & pl.col("cramped")).sum().alias("unexposed_cramped"),
                pl.col("simulated").fill_null(False).any().alias("simulated"),
            )
            .with_columns(
                pl.lit(factor).alias("factor"),
                pl.lit(definition).alias("exposed_means"),
                pl.lit(order).alias("factor_order"),
            )
        )
    counts = pl.concat(parts).with_columns(pl.col("exposed_n", "exposed_cramped", "unexposed_n", "unexposed_cramped").cast(pl.Int64))
    odds = pl.struct(
        pl.col("exposed_cramped").alias("a"),
        (pl.col("exposed_n") - pl.col("exposed_cramped")).alias("b"),
        pl.col("unexposed_cramped").alias("c"),
        (pl.col("unexposed_n") - pl.col("unexposed_cramped")).alias("d"),
    ).map_batches(
        _odds_ratio_batch,
        return_dtype=pl.Struct({"odds_ratio": pl.Float64, "or_ci_low": pl.Float64, "or_ci_high": pl.Float64}),
        is_elementwise=True,
    )
    share = lambda k, n: pl.when(pl.col(n) > 0).then(pl.col(k) / pl.col(n))  # noqa: E731
    return (
        counts.with_columns(
            share("exposed_cramped", "exposed_n").alias("prevalence_exposed"),
            share("unexposed_cramped", "unexposed_n").alias("prevalence_unexposed"),
            odds.alias("_or"),
            pl.lit(ASSOCIATION_NOTE).alias("note"),
        )
        .unnest("_or")
        .sort("race_id", "factor_order")
        .select(
            "race_id", "factor", "exposed_means", "exposed_n", "exposed_cramped", "unexposed_n", "unexposed_cramped",
            "prevalence_exposed", "prevalence_unexposed", "odds_ratio", "or_ci_low", "or_ci_high", "simulated", "note",
        )  # fmt: skip
    )


def survey_cramp_prevalence(survey_responses: Frame) -> pl.LazyFrame:
    """Per race: respondents who answered `cramped`, how many cramped, the share and its Wilson 95% CI."""
    responses = survey_responses.lazy()
    _require(responses, ("race_id", "cramped", "simulated"))
    counts = (
        responses.filter(pl.col("cramped").is_not_null())
        .group_by("race_id")
        .agg(
            pl.len().cast(pl.Int64).alias("respondents"),
            pl.col("cramped").sum().cast(pl.Int64).alias("cramped"),
            pl.col("simulated").fill_null(False).any().alias("simulated"),
        )
    )
    return (
        with_rate_columns(counts, numerator="cramped", denominator="respondents")
        .with_columns(
            (pl.col("rate_per_1000") / 1000).alias("prevalence"),
            (pl.col("ci_low_per_1000") / 1000).alias("ci_low"),
            (pl.col("ci_high_per_1000") / 1000).alias("ci_high"),
            pl.lit(ASSOCIATION_NOTE).alias("note"),
        )
        .select("race_id", "respondents", "cramped", "prevalence", "ci_low", "ci_high", "small_count", "simulated", "note")
        .sort("race_id")
    )
