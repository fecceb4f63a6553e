"""Survey risk factors: counts, prevalences and odds ratios on twelve hand-made answers."""

from __future__ import annotations

import polars as pl
import pytest

from racecramp.marts.survey import ASSOCIATION_NOTE, survey_cramp_prevalence, survey_risk_factors

# id: cramped, strength, plyo, electrolytes, heat_acclimatised, prior_cramps, weekly_km, longest_run_km
ANSWERS = [
    (True, True, False, True, False, True, 30.0, 25.0),
    (True, False, False, True, False, True, 50.0, 32.0),
    (True, False, True, False, False, True, 45.0, 28.0),
    (True, False, False, True, True, False, 35.0, 35.0),
    (False, True, False, True, False, False, 60.0, 33.0),
    (False, True, True, False, True, False, 55.0, 30.0),  # longest run exactly 30: not "under 30"
    (False, True, False, True, False, False, 42.0, 31.0),
    (False, False, False, False, True, False, 38.0, 26.0),
    (False, False, True, True, False, False, 50.0, 34.0),
    (False, False, False, False, False, False, 48.0, 30.0),
    (None, True, True, True, True, True, 20.0, 20.0),  # did not say whether they cramped: left out
    (False, None, None, None, None, None, None, None),  # answered only "cramped"
]


def responses(simulated: bool = False) -> pl.DataFrame:
    cols = ["cramped", "strength_training", "plyometrics", "electrolyte_drinks", "heat_acclimatised", "prior_cramps",
            "weekly_km", "longest_training_run_km"]  # fmt: skip
    frame = pl.DataFrame(ANSWERS, schema=dict.fromkeys(cols[:6], pl.Boolean) | dict.fromkeys(cols[6:], pl.Float64), orient="row")
    return frame.with_columns(
        pl.lit("r").alias("race_id"),
        pl.Series("bib", [str(i) for i in range(1, len(ANSWERS) + 1)]),
        pl.lit(simulated).alias("simulated"),
    )


def factors() -> dict[str, dict]:
    return {r["factor"]: r for r in survey_risk_factors(responses()).collect().iter_rows(named=True)}


def test_strength_training_counts_prevalences_and_woolf_odds_ratio():
    row = factors()["strength_training"]
    # exposed: answers 1, 5, 6, 7 (1 cramped); unexposed: 2, 3, 4, 8, 9, 10 (3 cramped)
    assert (row["exposed_n"], row["exposed_cramped"], row["unexposed_n"], row["unexposed_cramped"]) == (4, 1, 6, 3)
    assert row["prevalence_exposed"] == pytest.approx(0.25)
    assert row["prevalence_unexposed"] == pytest.approx(0.5)
    # OR = (1*3)/(3*3) = 1/3; SE = sqrt(1 + 1/3 + 1/3 + 1/3) = 1.414214
    # exp(ln(1/3) -+ 1.959964*1.414214) = [0.020850, 5.329169]
    assert row["odds_ratio"] == pytest.approx(1 / 3)
    assert row["or_ci_low"] == pytest.approx(0.020850, rel=1e-4)
    assert row["or_ci_high"] == pytest.approx(5.329169, rel=1e-5)


def test_a_factor_every_exposed_runner_cramped_with_gets_the_haldane_correction():
    row = factors()["prior_cramps"]
    assert (row["exposed_n"], row["exposed_cramped"], row["unexposed_n"], row["unexposed_cramped"]) == (3, 3, 7, 1)
    # cells 3, 0, 1, 6 + 0.5: OR = 3.5*6.5 / (0.5*1.5) = 30.333; SE = 1.762449 -> [0.958784, 959.665]
    assert row["odds_ratio"] == pytest.approx(30.3333, rel=1e-4)
    assert row["or_ci_low"] == pytest.approx(0.958784, rel=1e-5)
    assert row["or_ci_high"] == pytest.approx(959.665, rel=1e-5)


def test_training_volume_is_binarised_at_the_documented_cut_offs():
    rows = factors()
    weekly = rows["weekly_km_under_40"]
    # weekly_km < 40: answers 1 (30), 4 (35), 8 (38); answer 12 has no weekly_km and is left out
    assert (weekly["exposed_n"], weekly["exposed_cramped"], weekly["unexposed_n"], weekly["unexposed_cramped"]) == (3, 2, 7, 2)
    assert weekly["odds_ratio"] == pytest.approx(5.0)  # (2*5)/(1*2)
    assert weekly["or_ci_low"] == pytest.approx(0.273171, rel=1e-5)
    longest = rows["longest_run_under_30_km"]
    # < 30: answers 1 (25), 3 (28), 8 (26); answers 6 and 10 ran exactly 30 and are unexposed
    assert (longest["exposed_n"], longest["exposed_cramped"]) == (3, 2)
    assert longest["exposed_means"] == "longest_training_run_km < 30"


def test_every_factor_row_says_association_not_causation():
    rows = survey_risk_factors(responses()).collect()
    assert rows["factor"].to_list() == [
        "strength_training", "plyometrics", "electrolyte_drinks", "heat_acclimatised", "prior_cramps",
        "weekly_km_under_40", "longest_run_under_30_km",
    ]  # fmt: skip
    assert set(rows["note"]) == {ASSOCIATION_NOTE}
    assert "association, not causation" in ASSOCIATION_NOTE


def test_overall_prevalence_counts_everyone_who_answered_cramped_with_wilson_ci():
    row = survey_cramp_prevalence(responses()).collect().row(0, named=True)
    # 11 answered (answer 11 did not), 4 cramped. Wilson 4/11: [0.151665, 0.646199]
    assert (row["respondents"], row["cramped"]) == (11, 4)
    assert row["prevalence"] == pytest.approx(4 / 11)
    assert row["ci_low"] == pytest.approx(0.151665, abs=1e-6)
    assert row["ci_high"] == pytest.approx(0.646199, abs=1e-6)
    assert row["small_count"] is True


def test_simulated_answers_are_labelled():
    assert survey_cramp_prevalence(responses(simulated=True)).collect()["simulated"].all()
    assert survey_risk_factors(responses(simulated=True)).collect()["simulated"].all()


def test_a_missing_column_is_named():
    with pytest.raises(ValueError, match="'prior_cramps'"):
        survey_risk_factors(responses().drop("prior_cramps"))
