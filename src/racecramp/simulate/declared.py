"""Synthetic declared (target) finish times for races whose results carry none.

Real Boston results have no declared target time, yet the cramp model needs one: going
faster than one's declared pace is a planted risk factor (Schwellnus 2011). We therefore
synthesise a target per runner from the runner's REAL first half, as a plan made before
race day would look, and mark every value synthetic:

    declared_finish_s = half_net_time_s × (2 + TYPICAL_SECOND_HALF_SLOWDOWN) × exp(σ·Z)

with Z standard normal. Why the first half and not the official time: the official time
already contains race-day collapse (heat in 2017, wind in 2018); a target set before the
race cannot know it. The second-half factor turns an even-split plan into the positive
split Boston runners actually run; the lognormal noise makes some runners finish faster
than declared and some slower, as real targets do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from racecramp.domain import HALF_KM, MARATHON_KM

# Derived from the real Boston results (../shared/realdata/boston_results, lilykoff/
# marathon_analysis): the median of (second-half time − first-half time) / first-half time
# over finishers was 7.3% (2015), 12.8% (2017), 11.4% (2018), 13.3% (2019). Every one of
# those years had weather (cold rain and headwind, heat, humidity); a plan is made before
# the weather is known and runners plan optimistically, so we take the round 10%, below
# the four-year middle (about 12%). ASSUMPTION for the rounding.
TYPICAL_SECOND_HALF_SLOWDOWN = 0.10

# ASSUMPTION (no stored source measures how far declared targets miss): lognormal sigma
# 0.05, i.e. for 95% of runners the plan lies within about ±10% of the even-split
# projection (±24 min on a 4 h target). Median noise is 1: the plan is unbiased given the
# slowdown above.
DECLARED_NOISE_SIGMA = 0.05

# Participants schema (racecramp.validation.schemas.Participant) accepts 1 h to 12 h.
DECLARED_MIN_S = 3600.0
DECLARED_MAX_S = 12 * 3600.0

# Random stream id for this module inside a simulation seed (see simulate.events).
DECLARED_STREAM = 1


@dataclass(frozen=True)
class DeclaredFinishParams:
    """Parameters of the synthetic declared time; sources at the constants above."""

    second_half_slowdown: float = TYPICAL_SECOND_HALF_SLOWDOWN
    noise_sigma: float = DECLARED_NOISE_SIGMA
    reference_km: float = HALF_KM
    course_km: float = MARATHON_KM

    def __post_init__(self) -> None:
        if not -0.5 < self.second_half_slowdown < 1.0:
            raise ValueError(
                f"DeclaredFinishParams.second_half_slowdown={self.second_half_slowdown!r}: expected between -0.5 and 1"
            )
        if self.noise_sigma < 0:
            raise ValueError(f"DeclaredFinishParams.noise_sigma={self.noise_sigma!r}: expected >= 0")
        if not 0 < self.reference_km <= self.course_km:
            raise ValueError(
                f"DeclaredFinishParams.reference_km={self.reference_km!r}: expected between 0 and course_km={self.course_km}"
            )


def stream_rng(seed: int, stream: int) -> np.random.Generator:
    """An independent numpy Generator (PCG64) for one purpose inside one simulation seed."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed={seed!r}: expected a non-negative integer")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(stream)])))


def _require(frame: pl.DataFrame, name: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}; expected at least {list(columns)}, got {frame.columns}")


def reference_split(passings: pl.DataFrame, reference_km: float = HALF_KM) -> pl.DataFrame:
    """Per runner, the passing used to project a plan: the last one at or before reference_km,
    else the first one after it. Columns race_id, bib, ref_km, ref_net_time_s."""
    _require(passings, "passings", ("race_id", "bib", "km", "net_time_s"))
    usable = passings.select(
        "race_id", "bib", pl.col("km").cast(pl.Float64), pl.col("net_time_s").cast(pl.Float64)
    ).filter((pl.col("km") > 0) & (pl.col("net_time_s") > 0))
    before = usable.filter(pl.col("km") <= reference_km + 1e-9)
    after = usable.filter(pl.col("km") > reference_km + 1e-9)
    last_before = before.sort("race_id", "bib", "km").group_by("race_id", "bib", maintain_order=True).last()
    first_after = (
        after.sort("race_id", "bib", "km")
        .group_by("race_id", "bib", maintain_order=True)
        .first()
        .join(last_before.select("race_id", "bib"), on=["race_id", "bib"], how="anti")
    )
    return pl.concat([last_before, first_after]).select(
        "race_id", "bib", pl.col("km").alias("ref_km"), pl.col("net_time_s").alias("ref_net_time_s")
    )


def synthesise_declared_finish(
    participants: pl.DataFrame,
    passings: pl.DataFrame,
    seed: int,
    params: DeclaredFinishParams = DeclaredFinishParams(),
) -> pl.DataFrame:
    """Participants with declared_finish_s (whole seconds) synthesised from their real first
    half and declared_is_synthetic = true (declared time null when the runner has no split).

    Draws are made in (race_id, bib) order, so the same inputs and seed give the same times.
    """
    _require(participants, "participants", ("race_id", "bib"))
    ref = reference_split(passings, params.reference_km)
    ordered = participants.sort("race_id", "bib")
    noise = stream_rng(seed, DECLARED_STREAM).standard_normal(ordered.height)
    # Even-split projection (reference pace × course km) times 1 + slowdown/2, because the
    # slowdown applies to the second half only: for the half split this is half × (2 + s).
    out = (
        ordered.drop("declared_finish_s", "declared_is_synthetic", strict=False)
        .with_columns(pl.Series("_noise", noise, dtype=pl.Float64))
        .join(ref, on=["race_id", "bib"], how="left")
        .with_columns(
            (
                pl.col("ref_net_time_s")
                / pl.col("ref_km")
                * params.course_km
                * (1.0 + params.second_half_slowdown / 2.0)
                * (params.noise_sigma * pl.col("_noise")).exp()
            )
            .clip(DECLARED_MIN_S, DECLARED_MAX_S)
            .round(0)
            .alias("declared_finish_s"),
            pl.lit(True).alias("declared_is_synthetic"),
        )
        .drop("_noise", "ref_km", "ref_net_time_s")
    )
    return out
