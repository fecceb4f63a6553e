"""Weather readers: every feed lands as weather_observations rows in °C, m/s and UTC."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from racecramp.sources.weather import (
    WEATHER_OBSERVATIONS_SCHEMA,
    f_to_c,
    kmh_to_m_s,
    knots_to_m_s,
    mph_to_m_s,
    race_id_for,
    read_iem_asos_csv,
    read_open_meteo_json,
    read_visualcrossing_csv,
    read_visualcrossing_json,
)

from paths import SHARED

FIXTURES = Path(__file__).parent / "fixtures"
VC_JSON = FIXTURES / "weather_visualcrossing.json"
VC_CSV = FIXTURES / "weather_visualcrossing_flat.csv"
MARATHONS = FIXTURES / "weather_marathons.json"
ASOS_CSV = FIXTURES / "weather_iem_asos_bos_20170417.csv"
REAL_VC_DIR = SHARED / "weather_visualcrossing"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def only_row(frame: pl.DataFrame, at: datetime) -> dict:
    rows = frame.filter(pl.col("observed_at_utc") == at)
    assert rows.height == 1, f"expected one observation at {at}, got {rows.height}"
    return rows.row(0, named=True)


def test_unit_conversions_use_exact_definitions():
    # 212 °F is boiling (100 °C); 1 mph = 0.44704 m/s exactly; 1 kn = 1852/3600 m/s; 36 km/h = 10 m/s.
    assert f_to_c(212.0) == pytest.approx(100.0)
    assert f_to_c(32.0) == pytest.approx(0.0)
    assert mph_to_m_s(1.0) == pytest.approx(0.44704, abs=1e-12)
    assert knots_to_m_s(10.0) == pytest.approx(5.144444, abs=1e-6)
    assert kmh_to_m_s(36.0) == pytest.approx(10.0)


def test_race_id_is_name_without_marathon_plus_year():
    assert race_id_for("Boston Marathon", 2017) == "boston-2017"
    assert race_id_for("New York City Marathon", 2017) == "new-york-city-2017"
    assert race_id_for("CIM", 2019) == "cim-2019"


def test_visualcrossing_boston_10am_local_is_14h_utc_in_si_units():
    frame = read_visualcrossing_json(VC_JSON, marathons_path=MARATHONS)
    row = only_row(frame, utc(2017, 4, 17, 14))
    # Hand check: 10:00 EDT (UTC-4) = 14:00 UTC; (70.1-32)*5/9 = 21.1667 °C; (46.0-32)*5/9 = 7.7778 °C;
    # 15.1 mph * 0.44704 = 6.7503 m/s; RH = 100*10^(7.5*7.7778/245.0778 - 7.5*21.1667/258.4667) = 42.055 %.
    assert row["source"] == "visualcrossing"
    assert row["location"] == "Boston, MA, USA"
    assert row["race_id"] == "boston-2017"
    assert row["temp_c"] == pytest.approx(21.1667, abs=1e-4)
    assert row["dew_point_c"] == pytest.approx(7.7778, abs=1e-4)
    assert row["wind_m_s"] == pytest.approx(6.7503, abs=1e-4)
    assert row["rh_pct"] == pytest.approx(42.055, abs=1e-3)
    assert row["conditions"] == "Partially cloudy"
    assert row["interpolated"] is False and row["simulated"] is False


def test_readers_return_exactly_the_warehouse_columns():
    frames = [
        read_visualcrossing_json(VC_JSON, marathons_path=MARATHONS),
        read_visualcrossing_csv(VC_CSV, marathons_path=MARATHONS),
        read_iem_asos_csv(ASOS_CSV),
        read_open_meteo_json(
            {"timezone": "GMT", "hourly_units": {}, "hourly": {"time": ["2017-04-17T14:00"], "temperature_2m": [21.0]}},
            location="Boston",
        ),
    ]
    for frame in frames:
        assert frame.schema == WEATHER_OBSERVATIONS_SCHEMA


def test_repeated_hour_on_dst_end_is_two_different_utc_instants():
    # New York 2017-11-05: clocks fall back at 02:00 EDT, so 01:00 local happens twice.
    frame = read_visualcrossing_json(VC_JSON, race_name="New York City Marathon", timezones={"New York City Marathon": "America/New_York"})
    assert frame["observed_at_utc"].to_list() == [
        utc(2017, 11, 5, 4),  # 00:00 EDT
        utc(2017, 11, 5, 5),  # first 01:00, still EDT
        utc(2017, 11, 5, 6),  # second 01:00, now EST
        utc(2017, 11, 5, 7),  # 02:00 EST
    ]
    # The first listing (EDT) is the overcast one in the source file.
    assert only_row(frame, utc(2017, 11, 5, 5))["conditions"] == "Overcast"
    assert frame["race_id"].unique().to_list() == ["new-york-city-2017"]


def test_hour_listed_twice_outside_a_dst_change_is_an_error(tmp_path):
    races = json.loads(VC_JSON.read_text())
    boston_hours = races[0]["history"][0]["weather"]
    boston_hours.append(dict(boston_hours[1]))  # 10:00 again on 2017-04-17, no clock change that day
    doubled = tmp_path / "weather.json"
    doubled.write_text(json.dumps(races))
    with pytest.raises(ValueError, match=r"'Boston Marathon' 2017-04-17 hour 10:00:00 is listed twice"):
        read_visualcrossing_json(doubled, marathons_path=MARATHONS)


def test_flat_csv_and_json_give_the_same_rows():
    from_json = read_visualcrossing_json(VC_JSON, marathons_path=MARATHONS)
    from_csv = read_visualcrossing_csv(VC_CSV, marathons_path=MARATHONS)
    assert from_json.height == 7
    assert from_csv.equals(from_json)


def test_race_and_year_filters_select_one_edition():
    frame = read_visualcrossing_csv(VC_CSV, race_name="Boston Marathon", year=2017, marathons_path=MARATHONS)
    assert frame.height == 3
    assert frame["race_id"].unique().to_list() == ["boston-2017"]


def test_race_without_timezone_is_an_error_naming_the_race():
    with pytest.raises(ValueError, match="New York City Marathon"):
        read_visualcrossing_json(VC_JSON, timezones={"Boston Marathon": "America/New_York"})


def test_unknown_race_name_is_an_error():
    with pytest.raises(ValueError, match="race='Paris Marathon' not found"):
        read_visualcrossing_json(VC_JSON, race_name="Paris Marathon", marathons_path=MARATHONS)


def test_csv_with_text_in_a_number_column_names_the_row(tmp_path):
    bad = tmp_path / "flat.csv"
    lines = VC_CSV.read_text().splitlines()
    lines[2] = lines[2].replace(",70.1,", ",seventy,")
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"row 2 of flat.csv: temp_f='seventy' is not a number"):
        read_visualcrossing_csv(bad, marathons_path=MARATHONS)


@pytest.mark.realdata
def test_real_visualcrossing_file_has_one_row_per_instant():
    frame = read_visualcrossing_json(REAL_VC_DIR / "weather.json")
    # SOURCE.txt: 2,745 hourly records; the DST repeats must not collide on the table key.
    assert frame.height == 2745
    assert frame.select("source", "location", "observed_at_utc").is_duplicated().sum() == 0
    assert frame["observed_at_utc"].null_count() == 0


def test_asos_row_converts_knots_and_fills_missing_rh_from_dew_point():
    frame = read_iem_asos_csv(ASOS_CSV, race_id="boston-2017")
    row = only_row(frame, utc(2017, 4, 17, 13, 54))
    # 70 °F = 21.1111 °C; 48 °F = 8.8889 °C; 13 kn * 1852/3600 = 6.6878 m/s;
    # relh is 'M', so RH = 100*10^(7.5*8.8889/246.1889 - 7.5*21.1111/258.4111) = 45.507 %.
    assert row["source"] == "iem-asos:BOS"
    assert row["location"] == "BOS"
    assert row["race_id"] == "boston-2017"
    assert row["temp_c"] == pytest.approx(21.1111, abs=1e-4)
    assert row["dew_point_c"] == pytest.approx(8.8889, abs=1e-4)
    assert row["wind_m_s"] == pytest.approx(6.6878, abs=1e-4)
    assert row["rh_pct"] == pytest.approx(45.507, abs=1e-3)
    assert row["conditions"] == "FEW050"


def test_asos_keeps_given_rh_and_missing_temperature_stays_null():
    frame = read_iem_asos_csv(ASOS_CSV)
    assert frame.height == 9  # the four '#' preamble lines are not rows
    assert only_row(frame, utc(2017, 4, 17, 12, 54))["rh_pct"] == 67.65
    missing = only_row(frame, utc(2017, 4, 17, 15, 54))
    assert missing["temp_c"] is None
    assert missing["rh_pct"] is None  # neither given nor computable without a temperature
    assert missing["dew_point_c"] == pytest.approx(5.0)


def test_asos_sky_layers_and_weather_codes_become_metar_style_text():
    frame = read_iem_asos_csv(ASOS_CSV)
    assert only_row(frame, utc(2017, 4, 17, 19, 54))["conditions"] == "BKN090 OVC250"
    assert only_row(frame, utc(2017, 4, 17, 20, 54))["conditions"] == "OVC045 -RA BR"


def test_asos_text_in_a_number_column_is_an_error_naming_row_and_value(tmp_path):
    bad = tmp_path / "asos.csv"
    bad.write_text("station,valid,tmpf,dwpf,sknt\nBOS,2017-04-17 13:54,70.00,48.00,13.00\nBOS,2017-04-17 14:54,hot,45.00,15.00\n")
    with pytest.raises(ValueError, match=r"data row 2 of asos.csv: tmpf='hot'"):
        read_iem_asos_csv(bad)


def open_meteo(units: dict, hourly: dict, tz: str = "GMT", offset_s: int = 0) -> dict:
    return {"latitude": 42.36, "longitude": -71.01, "timezone": tz, "utc_offset_seconds": offset_s, "hourly_units": units, "hourly": hourly}


def test_open_meteo_gmt_celsius_kmh_and_given_rh():
    payload = open_meteo(
        {"time": "iso8601", "temperature_2m": "°C", "dew_point_2m": "°C", "relative_humidity_2m": "%", "wind_speed_10m": "km/h"},
        {"time": ["2017-04-17T14:00", "2017-04-17T15:00"], "temperature_2m": [21.2, None], "dew_point_2m": [7.8, 7.0],
         "relative_humidity_2m": [41.0, None], "wind_speed_10m": [18.0, 36.0]},
    )
    frame = read_open_meteo_json(payload, location="Boston Logan")
    assert frame["observed_at_utc"].to_list() == [utc(2017, 4, 17, 14), utc(2017, 4, 17, 15)]
    assert frame["source"].to_list() == ["open-meteo", "open-meteo"]
    assert frame["temp_c"].to_list() == [21.2, None]
    assert frame["rh_pct"].to_list() == [41.0, None]
    assert frame["wind_m_s"].to_list() == pytest.approx([5.0, 10.0])


def test_open_meteo_local_fahrenheit_mph_converts_and_computes_rh():
    payload = open_meteo(
        {"time": "iso8601", "temperature_2m": "°F", "dew_point_2m": "°F", "wind_speed_10m": "mph"},
        {"time": ["2017-04-17T10:00"], "temperature_2m": [70.1], "dew_point_2m": [46.0], "wind_speed_10m": [15.1]},
        tz="America/New_York",
        offset_s=-14400,
    )
    row = read_open_meteo_json(payload, location="Boston", race_id="boston-2017").row(0, named=True)
    assert row["observed_at_utc"] == utc(2017, 4, 17, 14)
    assert row["temp_c"] == pytest.approx(21.1667, abs=1e-4)
    assert row["wind_m_s"] == pytest.approx(6.7503, abs=1e-4)
    assert row["rh_pct"] == pytest.approx(42.055, abs=1e-3)  # same hand check as the Visual Crossing row
    assert row["race_id"] == "boston-2017"


def test_open_meteo_knots_and_unix_time():
    payload = open_meteo(
        {"time": "unixtime", "temperature_2m": "°C", "wind_speed_10m": "kn"},
        {"time": [1492437600], "temperature_2m": [21.0], "wind_speed_10m": [10.0]},
    )
    row = read_open_meteo_json(payload, location="Boston").row(0, named=True)
    assert row["observed_at_utc"] == utc(2017, 4, 17, 14)  # 1492437600 s after the epoch
    assert row["wind_m_s"] == pytest.approx(5.144444, abs=1e-6)


def test_open_meteo_fixed_offset_without_zone_name_is_applied():
    payload = open_meteo(
        {"time": "iso8601", "temperature_2m": "°C"},
        {"time": ["2017-04-17T10:00"], "temperature_2m": [21.0]},
        tz="GMT",
        offset_s=-14400,
    )
    assert read_open_meteo_json(payload, location="Boston")["observed_at_utc"].to_list() == [utc(2017, 4, 17, 14)]


def test_open_meteo_unknown_wind_unit_is_an_error_naming_the_field():
    payload = open_meteo({"wind_speed_10m": "bft"}, {"time": ["2017-04-17T14:00"], "temperature_2m": [21.0], "wind_speed_10m": [3.0]})
    with pytest.raises(ValueError, match=r"hourly_units.wind_speed_10m='bft'"):
        read_open_meteo_json(payload, location="Boston")

