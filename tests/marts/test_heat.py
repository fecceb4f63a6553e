"""Heat transforms: humidity, estimated WBGT, ACSM flags, and the weather as of each event."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest
import thermofeel

from racecramp.marts.heat import (
    WBGT_METHOD_BOM,
    WBGT_METHOD_OVERCAST,
    asof_weather,
    rh_from_dew_point,
    wbgt_estimate,
    wbgt_flag,
    with_heat,
)

UTC_US = pl.Datetime("us", "UTC")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def rh(temp_c: list[float], dew_point_c: list[float]) -> list[float]:
    frame = pl.DataFrame({"t": temp_c, "td": dew_point_c})
    return frame.select(rh_from_dew_point("t", "td")).to_series().to_list()


def wbgt(temp_c: list[float], rh_pct: list[float], conditions: list[str | None]) -> list[float]:
    frame = pl.DataFrame({"t": temp_c, "rh": rh_pct, "sky": conditions}, schema={"t": pl.Float64, "rh": pl.Float64, "sky": pl.String})
    return frame.select(wbgt_estimate("t", "rh", "sky")).to_series().to_list()


# ---------------------------------------------------------------- relative humidity


def test_rh_from_dew_point_matches_metpy_published_example():
    # MetPy docs, relative_humidity_from_dewpoint(25 degC, 12 degC) = 44.2484765 % (Bolton 1980
    # coefficients). Our Magnus-Tetens coefficients give 44.277 %; agreement within 0.1 point.
    assert rh([25.0], [12.0])[0] == pytest.approx(44.2484765, abs=0.1)


def test_rh_from_dew_point_equals_thermofeel():
    t_c = np.array([21.1667, 30.0, -5.0, 2.0])
    td_c = np.array([7.7778, 24.0, -12.0, 1.5])
    expected = thermofeel.calculate_relative_humidity_percent(t_c + 273.15, td_c + 273.15)
    assert rh(list(t_c), list(td_c)) == pytest.approx(list(expected), abs=1e-9)


def test_rh_is_100_when_dew_point_equals_or_rounds_above_temperature():
    assert rh([15.0, 15.0], [15.0, 15.2]) == pytest.approx([100.0, 100.0])


# ---------------------------------------------------------------- WBGT estimate


def test_wbgt_matches_thermofeel_published_test_vectors():
    # ecmwf/thermofeel tests/thermofeel_testcases.csv (t2m, td in K) and tests/wbgts.csv (expected
    # WBGT simple in K), rows 1, 2 and 27: RH from dew point, then the BoM approximation.
    cases = [
        (310.0, 280.0, 301.8660708152195866),
        (300.0, 290.0, 299.8336104569778513),
        (294.7049414, 286.6846011, 295.3905344399736350),
    ]
    t_c = [t - 273.15 for t, _, _ in cases]
    rh_pct = rh(t_c, [td - 273.15 for _, td, _ in cases])
    got = wbgt(t_c, rh_pct, [None, None, None])
    assert got == pytest.approx([w - 273.15 for _, _, w in cases], abs=1e-6)


def test_wbgt_bom_hand_check_boston_2017_10am():
    # 21.1667 °C, RH 42.055 %: e = 0.42055 * 6.105 * exp(17.27*21.1667/258.8667) = 10.5385 hPa;
    # WBGT = 0.567*21.1667 + 0.393*10.5385 + 3.94 = 20.083 °C (yellow flag).
    got = wbgt([(70.1 - 32) * 5 / 9], [42.05528], ["Partially cloudy"])
    assert got[0] == pytest.approx(20.083, abs=1e-3)


def test_wbgt_under_overcast_uses_stull_wet_bulb_without_sun():
    # Stull (2011, J. Appl. Meteor. Climatol. 50:2267) worked example: 20 °C, RH 50 % -> Tw = 13.7 °C.
    # With no direct sun the globe is at air temperature: 0.7*13.7 + 0.3*20 = 15.59 °C.
    assert wbgt([20.0], [50.0], ["Overcast"])[0] == pytest.approx(15.59, abs=0.05)


def test_overcast_estimate_is_thermofeel_wbgt_with_no_radiant_load():
    t_k = np.array([293.15, 300.0, 285.0])
    td_k = t_k - np.array([8.0, 3.0, 1.0])
    expected = thermofeel.calculate_wbgt(t_k, t_k, np.array([0.5, 3.0, 8.0]), td_k) - 273.15
    t_c = list(t_k - 273.15)
    got = wbgt(t_c, rh(t_c, list(td_k - 273.15)), ["Overcast", "OVC045 -RA BR", "Rain, Overcast"])
    assert got == pytest.approx(list(expected), abs=1e-9)


def test_cloud_cover_lowers_the_estimate_only_when_sun_is_blocked():
    t, h = [24.0] * 5, [60.0] * 5
    sky = ["Clear", "Partially cloudy", "BKN250", "Overcast", "VV002 FG"]
    got = wbgt(t, h, sky)
    assert got[0] == got[1] == got[2]  # sun possible: BoM for all three
    assert got[3] == got[4] < got[0]


def test_wbgt_is_null_when_temperature_or_humidity_is_missing():
    assert wbgt([None, 20.0], [50.0, None], ["Clear", "Clear"]) == [None, None]


# ---------------------------------------------------------------- flags


@pytest.mark.parametrize(
    ("wbgt_c", "flag"),
    [
        (9.99, "white"),
        (10.0, "green"),
        (17.99, "green"),
        (18.0, "yellow"),
        (22.99, "yellow"),
        (23.0, "red"),
        (28.0, "red"),
        (28.01, "black"),
        (None, None),
    ],
)
def test_acsm_flag_boundaries(wbgt_c, flag):
    got = pl.DataFrame({"w": [wbgt_c]}, schema={"w": pl.Float64}).select(wbgt_flag("w")).item()
    assert got == flag


# ---------------------------------------------------------------- with_heat


def weather_rows() -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "source": ["visualcrossing"] * 4,
            "location": ["Boston, MA, USA"] * 4,
            "observed_at_utc": [utc(2017, 4, 17, h) for h in (13, 14, 15, 16)],
            "temp_c": [21.1667, 21.1667, 20.0, None],
            "dew_point_c": [9.3333, 7.7778, 10.0, 5.0],
            "rh_pct": [None, 41.0, None, None],
            "wind_m_s": [7.6, 6.75, 3.1, 5.0],
            "conditions": ["Partially cloudy", "Partially cloudy", "Overcast", "Clear"],
            "race_id": ["boston-2017"] * 4,
            "interpolated": [False] * 4,
            "simulated": [False] * 4,
        },
        schema_overrides={"observed_at_utc": UTC_US},
    )


def test_with_heat_fills_rh_only_where_missing_and_labels_method_and_flag():
    out = with_heat(weather_rows()).collect()
    assert out["rh_pct"][1] == 41.0  # given value kept
    assert out["rh_pct"][0] == pytest.approx(rh([21.1667], [9.3333])[0])
    assert out["wbgt_method"].to_list() == [WBGT_METHOD_BOM, WBGT_METHOD_BOM, WBGT_METHOD_OVERCAST, None]
    assert out["wbgt_c"][1] == pytest.approx(wbgt([21.1667], [41.0], [None])[0])
    assert out["wbgt_flag"].to_list()[:3] == ["yellow", "yellow", "green"]
    assert out["wbgt_c"][3] is None and out["wbgt_flag"][3] is None


def test_with_heat_can_ignore_sky_text():
    out = with_heat(weather_rows(), use_conditions=False).collect()
    assert out["wbgt_method"].to_list()[:3] == [WBGT_METHOD_BOM] * 3


# ---------------------------------------------------------------- as-of join


def obs(source: str, times: list[datetime], temps: list[float], race_id: str = "boston-2017") -> pl.DataFrame:
    n = len(times)
    return pl.DataFrame(
        {
            "source": [source] * n,
            "location": [source.split(":")[-1]] * n,
            "observed_at_utc": times,
            "temp_c": temps,
            "dew_point_c": [5.0] * n,
            "rh_pct": [None] * n,
            "wind_m_s": [3.0] * n,
            "conditions": [None] * n,
            "race_id": [race_id] * n,
            "interpolated": [False] * n,
            "simulated": [False] * n,
        },
        schema_overrides={"observed_at_utc": UTC_US, "rh_pct": pl.Float64, "conditions": pl.String},
    )


def events(times: list[datetime | None], race_id: str = "boston-2017") -> pl.LazyFrame:
    return pl.LazyFrame(
        {"report_id": [f"r{i}" for i in range(len(times))], "race_id": [race_id] * len(times), "reported_at_utc": times},
        schema_overrides={"reported_at_utc": UTC_US},
    )


def test_asof_boundaries_exact_before_tolerance_and_first_observation():
    weather = obs("visualcrossing", [utc(2017, 4, 17, 14), utc(2017, 4, 17, 15)], [21.0, 22.0]).lazy()
    times = [
        utc(2017, 4, 17, 15),  # exactly at an observation: takes it
        utc(2017, 4, 17, 15) - timedelta(microseconds=1),  # one microsecond before: the previous one
        utc(2017, 4, 17, 16, 30),  # exactly 90 min after: still within tolerance
        utc(2017, 4, 17, 16, 30, 0, 1),  # beyond 90 min: nothing
        utc(2017, 4, 17, 13, 59),  # before the first observation: nothing
        None,  # no time: nothing
    ]
    out = asof_weather(events(times), weather, "reported_at_utc", by="race_id").collect()
    assert out["report_id"].to_list() == ["r0", "r1", "r2", "r3", "r4", "r5"]  # order kept
    assert out["temp_c"].to_list() == [22.0, 21.0, 22.0, None, None, None]
    assert out["observed_at_utc"].to_list() == [utc(2017, 4, 17, 15), utc(2017, 4, 17, 14), utc(2017, 4, 17, 15), None, None, None]
    assert out["weather_source"].to_list()[:3] == ["visualcrossing"] * 3


def test_asof_only_uses_the_events_own_race():
    weather = pl.concat(
        [
            obs("visualcrossing", [utc(2017, 4, 17, 14)], [21.0], race_id="boston-2017"),
            obs("visualcrossing", [utc(2017, 4, 17, 14, 30)], [9.0], race_id="london-2017"),
        ]
    ).lazy()
    out = asof_weather(events([utc(2017, 4, 17, 15)]), weather, "reported_at_utc", by="race_id").collect()
    assert out["temp_c"].to_list() == [21.0]


def test_asof_prefers_station_observations_over_model_even_with_fewer_rows():
    hourly = [utc(2017, 4, 17, h) for h in range(10, 20)]
    weather = pl.concat(
        [
            obs("open-meteo", hourly, [15.0] * len(hourly)),
            obs("visualcrossing", hourly[:5], [16.0] * 5),
            obs("iem-asos:BOS", [utc(2017, 4, 17, 13, 54)], [21.0]),
        ]
    ).lazy()
    out = asof_weather(events([utc(2017, 4, 17, 14, 10), utc(2017, 4, 17, 18)]), weather, "reported_at_utc", by="race_id").collect()
    # The ASOS station wins for the whole race; 18:00 is > 90 min after its only report, so null
    # rather than a jump to the model.
    assert out["weather_source"].to_list() == ["iem-asos:BOS", None]
    assert out["temp_c"].to_list() == [21.0, None]


def test_asof_among_non_station_sources_prefers_visualcrossing():
    hourly = [utc(2017, 4, 17, h) for h in range(10, 20)]
    weather = pl.concat([obs("open-meteo", hourly, [15.0] * 10), obs("visualcrossing", hourly[:5], [16.0] * 5)]).lazy()
    out = asof_weather(events([utc(2017, 4, 17, 14, 10)]), weather, "reported_at_utc").collect()
    assert out["weather_source"].to_list() == ["visualcrossing"]
    assert out["weather_race_id"].to_list() == ["boston-2017"]


def test_asof_refuses_naive_event_times():
    weather = obs("visualcrossing", [utc(2017, 4, 17, 14)], [21.0]).lazy()
    naive = pl.LazyFrame({"race_id": ["boston-2017"], "passed_at": [datetime(2017, 4, 17, 14)]})
    with pytest.raises(ValueError, match=r"events.passed_at is Datetime\(time_unit='us', time_zone=None\); expected"):
        asof_weather(naive, weather, "passed_at", by="race_id")


def test_asof_refuses_to_overwrite_an_event_column():
    weather = obs("visualcrossing", [utc(2017, 4, 17, 14)], [21.0]).lazy()
    clashing = events([utc(2017, 4, 17, 14)]).with_columns(pl.lit(1.0).alias("temp_c"))
    with pytest.raises(ValueError, match="events already have column 'temp_c'"):
        asof_weather(clashing, weather, "reported_at_utc", by="race_id")


def test_asof_carries_heat_columns_to_events():
    weather = with_heat(obs("visualcrossing", [utc(2017, 4, 17, 14)], [21.1667]).lazy())
    out = asof_weather(events([utc(2017, 4, 17, 14, 20)]), weather, "reported_at_utc", by="race_id").collect()
    assert out["wbgt_method"].to_list() == [WBGT_METHOD_BOM]
    assert out["wbgt_flag"].to_list() == ["yellow"]
