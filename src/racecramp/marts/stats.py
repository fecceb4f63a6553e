"""Confidence intervals for rates and odds ratios, and the standard rate columns of every mart.

Intervals come from statsmodels (maintained, tested); this module only adapts them to arrays
and polars frames and states the conventions (per 1000, small-count flag, Haldane correction).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import polars as pl
from statsmodels.stats.contingency_tables import Table2x2
from statsmodels.stats.proportion import proportion_confint

from racecramp.domain import SMALL_COUNT_BELOW

PER_1000 = 1000.0
HALDANE_CORRECTION = 0.5  # added to every cell of a 2x2 table with a zero cell (Haldane 1956)
RATE_COLUMNS = ("rate_per_1000", "ci_low_per_1000", "ci_high_per_1000", "small_count")

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


def wilson_ci(successes, trials, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval (as proportions) for each successes/trials pair; NaN where trials is 0.

    Wilson rather than Wald because cramp counts are small and rates near 0, where the Wald
    interval collapses to zero width and dips below 0 (Brown, Cai & DasGupta 2001, Stat Sci 16:101).
    """
    k = np.atleast_1d(np.asarray(successes, dtype=float))
    n = np.atleast_1d(np.asarray(trials, dtype=float))
    k, n = np.broadcast_arrays(k, n)
    bad = np.isnan(k) | np.isnan(n) | (k < 0) | (n < 0) | (k > n)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"wilson_ci: successes={k[i]:g}, trials={n[i]:g} at position {i}: "
            "expected 0 <= successes <= trials"
        )
    low = np.full(k.shape, np.nan)
    high = np.full(k.shape, np.nan)
    ok = n > 0
    if ok.any():
        low[ok], high[ok] = proportion_confint(k[ok], n[ok], alpha=alpha, method="wilson")
    return low, high


def odds_ratio_ci(a: float, b: float, c: float, d: float, alpha: float = 0.05) -> tuple[float, float, float]:
    """Odds ratio (a·d)/(b·c) with Woolf's log-scale CI for the 2×2 table [[a, b], [c, d]].

    Rows are exposed / unexposed, columns outcome yes / no. When any cell is 0 the Haldane
    correction adds 0.5 to every cell (Haldane 1956; Anscombe 1956) so the ratio and interval
    stay finite. We add it ourselves: statsmodels' `shift_zeros=True` replaces only the zero
    cells by 0.5, which is a different estimator. NaN when a row is empty (no exposed or no
    unexposed people: nothing to compare).
    """
    cells = np.array([[a, b], [c, d]], dtype=float)
    if np.isnan(cells).any() or (cells < 0).any():
        raise ValueError(f"odds_ratio_ci: cells a={a}, b={b}, c={c}, d={d}: expected non-negative counts")
    if cells[0].sum() == 0 or cells[1].sum() == 0:
        return (float("nan"),) * 3
    if (cells == 0).any():
        cells = cells + HALDANE_CORRECTION
    table = Table2x2(cells, shift_zeros=False)
    low, high = table.oddsratio_confint(alpha=alpha, method="normal")
    return float(table.oddsratio), float(low), float(high)


def _wilson_struct(counts: pl.Series) -> pl.Series:
    frame = counts.struct.unnest()
    k = frame["k"].cast(pl.Float64).to_numpy()
    n = frame["n"].cast(pl.Float64).to_numpy()
    valid = ~np.isnan(k) & ~np.isnan(n) & (n > 0) & (k >= 0) & (k <= n)
    low = np.full(k.shape, np.nan)
    high = np.full(k.shape, np.nan)
    if valid.any():
        low[valid], high[valid] = wilson_ci(k[valid], n[valid])
    return pl.DataFrame(
        {"ci_low_per_1000": low * PER_1000, "ci_high_per_1000": high * PER_1000}
    ).with_columns(pl.all().fill_nan(None)).to_struct(counts.name)


def with_rate_columns(frame: FrameT, numerator: str = "cases", denominator: str = "runners") -> FrameT:
    """Add rate_per_1000, Wilson 95% ci_low/high_per_1000 and small_count (cases < SMALL_COUNT_BELOW).

    The rate is null when the denominator is 0 or null. The interval is also null when the
    numerator exceeds the denominator (possible in place/time marts, where a report may come
    from a runner counted in an earlier bucket): a binomial interval means nothing there.
    """
    rate = (
        pl.when(pl.col(denominator) > 0)
        .then(pl.col(numerator).cast(pl.Float64) / pl.col(denominator) * PER_1000)
        .otherwise(None)
    )
    ci = (
        pl.struct(pl.col(numerator).alias("k"), pl.col(denominator).alias("n"))
        .map_batches(
            _wilson_struct,
            return_dtype=pl.Struct({"ci_low_per_1000": pl.Float64, "ci_high_per_1000": pl.Float64}),
            is_elementwise=True,
        )
        .alias("_ci")
    )
    return (
        frame.with_columns(rate.alias("rate_per_1000"), ci)
        .unnest("_ci")
        .with_columns((pl.col(numerator) < SMALL_COUNT_BELOW).alias("small_count"))
    )


def poisson_rate_ci(events, exposure, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood 1936) 95% interval of events / exposure for a Poisson count: chi-square
    quantiles, NaN where the exposure is 0. For rates per person-time (per 1000 runner-hours),
    where a binomial interval does not apply (a runner can be at risk for any length of time)."""
    from scipy.stats import chi2

    k = np.atleast_1d(np.asarray(events, dtype=float))
    t = np.atleast_1d(np.asarray(exposure, dtype=float))
    k, t = np.broadcast_arrays(k, t)
    bad = np.isnan(k) | (k < 0) | np.isnan(t) | (t < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"poisson_rate_ci: events={k[i]:g}, exposure={t[i]:g} at position {i}: expected non-negative numbers")
    low = np.full(k.shape, np.nan)
    high = np.full(k.shape, np.nan)
    ok = t > 0
    low[ok] = np.where(k[ok] > 0, chi2.ppf(alpha / 2, 2 * k[ok]) / 2, 0.0) / t[ok]
    high[ok] = chi2.ppf(1 - alpha / 2, 2 * k[ok] + 2) / 2 / t[ok]
    return low, high


def poisson_exceedance(observed, expected) -> np.ndarray:
    """P(X >= observed) for X ~ Poisson(expected): how surprising a count is (1 when observed is 0;
    NaN when nothing is expected to compare with)."""
    from scipy.stats import poisson

    o = np.atleast_1d(np.asarray(observed, dtype=float))
    e = np.atleast_1d(np.asarray(expected, dtype=float))
    o, e = np.broadcast_arrays(o, e)
    out = np.full(o.shape, np.nan)
    ok = ~np.isnan(e) & ~np.isnan(o)
    out[ok] = np.where(o[ok] <= 0, 1.0, poisson.sf(o[ok] - 1, e[ok]))
    return out
