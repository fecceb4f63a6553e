"""Confidence intervals: Wilson for rates, Woolf for odds ratios, and the mart rate columns."""

import math

import numpy as np
import polars as pl
import pytest

from racecramp.marts.stats import odds_ratio_ci, wilson_ci, with_rate_columns

# Wilson by hand, z = 1.959964 (z^2 = 3.841459):
#   centre = (p + z^2/2n) / (1 + z^2/n); half = z/(1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2)
# 40/20000: p = 0.002, 1 + z^2/n = 1.00019207, centre = 0.0020956335,
#           sqrt(9.98e-8 + 2.4009e-9) = 3.196888e-4, half = 1.959588 * 3.196888e-4 = 6.26459e-4
#           -> [1.4692, 2.7221] per 1000
# 3/50:     p = 0.06, 1 + z^2/n = 1.0768292, centre = 0.0984146 / 1.0768292 = 0.0913930,
#           sqrt(0.001128 + 0.00038415) = 0.0388864, half = 1.820126 * 0.0388864 = 0.0707782
#           -> [20.615, 162.171] per 1000


def test_wilson_interval_matches_the_textbook_formula_for_40_cases_in_20000_runners():
    low, high = wilson_ci(40, 20000)
    assert low[0] * 1000 == pytest.approx(1.4692, abs=5e-4)
    assert high[0] * 1000 == pytest.approx(2.7221, abs=5e-4)


def test_wilson_interval_is_vectorised_and_matches_hand_values_for_3_in_50():
    low, high = wilson_ci(np.array([40, 3]), np.array([20000, 50]))
    assert low * 1000 == pytest.approx([1.4692, 20.615], abs=5e-3)
    assert high * 1000 == pytest.approx([2.7221, 162.171], abs=5e-3)


def test_zero_cases_still_get_an_upper_bound():
    # 0/10: centre = half = (z^2/20) / (1 + z^2/10) = 0.1920730 / 1.3841459 = 0.138766 -> upper 0.27753
    low, high = wilson_ci(0, 10)
    assert low[0] == 0.0
    assert high[0] == pytest.approx(0.27753, abs=1e-5)


def test_zero_trials_give_no_interval():
    low, high = wilson_ci([0], [0])
    assert math.isnan(low[0]) and math.isnan(high[0])


def test_more_successes_than_trials_is_an_error_that_names_the_values():
    with pytest.raises(ValueError, match="successes=6, trials=5"):
        wilson_ci(6, 5)


def test_odds_ratio_uses_woolf_interval():
    # OR = 10*40 / (20*5) = 4; SE(log OR) = sqrt(1/10 + 1/20 + 1/5 + 1/40) = 0.612372
    # exp(ln 4 -+ 1.959964 * 0.612372) = exp(1.386294 -+ 1.200227) = [1.20450, 13.2835]
    odds, low, high = odds_ratio_ci(10, 20, 5, 40)
    assert odds == pytest.approx(4.0)
    assert low == pytest.approx(1.20450, rel=1e-4)
    assert high == pytest.approx(13.2835, rel=1e-4)


def test_a_zero_cell_gets_the_haldane_half_added_to_every_cell():
    # cells become 0.5, 10.5, 5.5, 5.5: OR = 0.5*5.5 / (10.5*5.5) = 0.047619
    # SE = sqrt(2 + 1/10.5 + 2/5.5) = 1.568080; exp(-3.044522 -+ 3.073382) = [0.0022031, 1.029279]
    odds, low, high = odds_ratio_ci(0, 10, 5, 5)
    assert odds == pytest.approx(0.047619, rel=1e-4)
    assert low == pytest.approx(0.0022031, rel=1e-3)
    assert high == pytest.approx(1.029279, rel=1e-4)


def test_odds_ratio_is_undefined_when_nobody_is_exposed():
    assert all(math.isnan(v) for v in odds_ratio_ci(0, 0, 5, 5))


def test_rate_columns_per_1000_with_ci_and_small_count_flag():
    frame = pl.DataFrame({"cases": [40, 3, 0, 7], "runners": [20000, 50, 0, 5]})
    out = with_rate_columns(frame.lazy()).collect()
    assert out["rate_per_1000"].to_list()[:2] == pytest.approx([2.0, 60.0])
    assert out["ci_low_per_1000"].to_list()[:2] == pytest.approx([1.4692, 20.615], abs=5e-3)
    assert out["ci_high_per_1000"].to_list()[:2] == pytest.approx([2.7221, 162.171], abs=5e-3)
    # 3 and 0 cases are below SMALL_COUNT_BELOW = 5; 7 and 40 are not
    assert out["small_count"].to_list() == [False, True, True, False]
    # no runners: no rate; more cases than runners: a rate but no binomial interval
    assert out["rate_per_1000"][2] is None and out["ci_low_per_1000"][2] is None
    assert out["rate_per_1000"][3] == pytest.approx(1400.0)
    assert out["ci_low_per_1000"][3] is None and out["ci_high_per_1000"][3] is None


def test_rate_columns_accept_other_column_names_and_eager_frames():
    frame = pl.DataFrame({"slowed": [40], "finishers": [20000]})
    out = with_rate_columns(frame, numerator="slowed", denominator="finishers")
    assert isinstance(out, pl.DataFrame)
    assert out["rate_per_1000"][0] == pytest.approx(2.0)
