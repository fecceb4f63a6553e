"""Readers for weather feeds -> frames with exactly the `weather_observations` columns.

Feeds: Visual Crossing race-day hours (JSON or its flat CSV), Iowa Environmental Mesonet
ASOS/METAR CSV downloads, and Open-Meteo hourly JSON. Every reader converts to °C, m/s
and UTC, and fills `rh_pct` from temperature and dew point (Magnus-Tetens) when the feed
gives no relative humidity. What the Liljegren WBGT needs beyond that (site coordinates,
solar irradiance, cloud cover as a number, station pressure) is filled where the feed has
it, else left null. Contract: docs/warehouse.md, table `weather_observations`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl

from racecramp.marts.heat import rh_from_dew_point

# Column contract of `weather_observations` (docs/warehouse.md), in table order.
WEATHER_OBSERVATIONS_SCHEMA = pl.Schema(
    {
        "source": pl.String,
        "location": pl.String,
        "observed_at_utc": pl.Datetime("us", "UTC"),
        "temp_c": pl.Float64,
        "dew_point_c": pl.Float64,
        "rh_pct": pl.Float64,
        "wind_m_s": pl.Float64,
        "conditions": pl.String,
        "race_id": pl.String,
        "interpolated": pl.Boolean,
        "simulated": pl.Boolean,
        "latitude_deg": pl.Float64,
        "longitude_deg": pl.Float64,
        "shortwave_w_m2": pl.Float64,
        "cloud_cover_pct": pl.Float64,
        "pressure_hpa": pl.Float64,
    }
)
# Columns a reader may leave out; _finish fills them with null.
_OPTIONAL_COLUMNS = ("latitude_deg", "longitude_deg", "shortwave_w_m2", "cloud_cover_pct", "pressure_hpa")

SOURCE_VISUALCROSSING = "visualcrossing"
SOURCE_IEM_ASOS_PREFIX = "iem-asos"  # full source is "iem-asos:<station>"
SOURCE_OPEN_METEO = "open-meteo"

# Visual Crossing's marathon-weather files name a place ("Boston, MA, USA") but carry no
# coordinates. ASSUMPTION: the city centre, to 0.01 degree (Visual Crossing geocodes the
# address to a point near it); 0.1 degree moves the solar zenith by at most about 0.1 degree.
VISUALCROSSING_PLACES: dict[str, tuple[float, float]] = {
    "Amsterdam, Netherlands": (52.37, 4.90),
    "Berlin, Germany": (52.52, 13.40),
    "Boston, MA, USA": (42.36, -71.06),
    "Chicago, IL, USA": (41.88, -87.63),
    "Houston, TX, USA": (29.76, -95.37),
    "London, UK": (51.51, -0.13),
    "New York, NY, USA": (40.71, -74.01),
    "Sacramento, CA, USA": (38.58, -121.49),
    "Seville, Spain": (37.39, -5.98),
    "Sydney, Australia": (-33.87, 151.21),
    "Tokyo, Japan": (35.68, 139.69),
    "Valencia, Spain": (39.47, -0.38),
}

# Exact conversion factors (SI definitions):
# international mile = 1609.344 m (1959 agreement), so 1 mph = 1609.344 / 3600 m/s;
# international nautical mile = 1852 m, so 1 knot = 1852 / 3600 m/s; 1 km/h = 1000 / 3600 m/s.
M_S_PER_MPH = 1609.344 / 3600.0
M_S_PER_KNOT = 1852.0 / 3600.0
M_S_PER_KMH = 1000.0 / 3600.0

# IEM ASOS download conventions (https://mesonet.agron.iastate.edu/request/download.phtml):
# "M" marks a missing value, "T" a trace of precipitation.
IEM_MISSING = "M"
IEM_TRACE = "T"
IEM_SKY_COLUMNS = (("skyc1", "skyl1"), ("skyc2", "skyl2"), ("skyc3", "skyl3"), ("skyc4", "skyl4"))


def f_to_c(temp_f):
    """Degrees Fahrenheit to Celsius; works on floats and polars expressions."""
    return (temp_f - 32.0) * 5.0 / 9.0


def mph_to_m_s(speed_mph):
    """Miles per hour to metres per second; works on floats and polars expressions."""
    return speed_mph * M_S_PER_MPH


def knots_to_m_s(speed_kn):
    """Knots to metres per second; works on floats and polars expressions."""
    return speed_kn * M_S_PER_KNOT


def kmh_to_m_s(speed_kmh):
    """Kilometres per hour to metres per second; works on floats and polars expressions."""
    return speed_kmh * M_S_PER_KMH


def race_id_for(race_name: str, year: int) -> str:
    """Race slug + year: 'Boston Marathon', 2017 -> 'boston-2017'.

    Rule: lower-case the name, drop a final word "marathon", turn every run of
    non-alphanumerics into "-", append "-<year>". So 'New York City Marathon' ->
    'new-york-city-2017' (the first word alone, 'new', would not identify the race) and
    'CIM' -> 'cim-2017'.
    """
    words = race_name.strip().lower().split()
    if len(words) > 1 and words[-1] == "marathon":
        words = words[:-1]
    slug = re.sub(r"[^a-z0-9]+", "-", " ".join(words)).strip("-")
    if not slug:
        raise ValueError(f"race name {race_name!r}: gives an empty race_id slug; expected letters or digits")
    return f"{slug}-{int(year)}"


def _finish(frame: pl.DataFrame) -> pl.DataFrame:
    """Fill rh_pct from dew point where missing and return exactly the contract columns."""
    frame = frame.with_columns(
        [pl.lit(None, dtype=pl.Float64).alias(name) for name in _OPTIONAL_COLUMNS if name not in frame.columns]
    )
    return (
        frame.with_columns(
            pl.coalesce(pl.col("rh_pct"), rh_from_dew_point("temp_c", "dew_point_c")).alias("rh_pct"),
            pl.lit(False).alias("interpolated"),
            pl.lit(False).alias("simulated"),
        )
        .select([pl.col(name).cast(dtype) for name, dtype in WEATHER_OBSERVATIONS_SCHEMA.items()])
        .sort("source", "location", "observed_at_utc")
    )


# ---------------------------------------------------------------- Visual Crossing


def _timezones_from_marathons(path: Path) -> dict[str, str]:
    races = json.loads(path.read_text(encoding="utf-8"))
    out: dict[str, str] = {}
    for i, race in enumerate(races):
        if "name" not in race or "timezone" not in race:
            raise ValueError(f"{path}: entry {i} has no 'name' or 'timezone' field; expected both")
        out[race["name"]] = race["timezone"]
    return out


def _resolve_timezones(
    data_path: Path, timezones: Mapping[str, str] | None, marathons_path: str | Path | None
) -> dict[str, str]:
    if timezones is not None:
        return dict(timezones)
    path = Path(marathons_path) if marathons_path is not None else data_path.with_name("marathons.json")
    if not path.exists():
        raise FileNotFoundError(
            f"{data_path}: race timezones needed to convert local hours to UTC; "
            f"expected a timezones mapping or a marathons.json at {path}"
        )
    return _timezones_from_marathons(path)


def _local_hours_to_utc(raw: pl.DataFrame, timezones: Mapping[str, str], origin: str) -> pl.DataFrame:
    """Convert local race-day hours to UTC, one race timezone at a time.

    On the autumn DST change an hour is listed twice (New York 2017-11-05 lists 01:00
    twice): the first listing is the earlier instant, the second the later one.
    """
    missing = sorted(set(raw["race"].unique().to_list()) - set(timezones))
    if missing:
        raise ValueError(f"{origin}: race {missing[0]!r} has no timezone; expected it in marathons.json or the timezones mapping")
    raw = raw.with_columns(
        (pl.col("date") + " " + pl.col("hour_local"))
        .str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="us", strict=False)
        .alias("local_time"),
        pl.col("race").replace_strict(timezones, return_dtype=pl.String).alias("timezone"),
    )
    unparsed = raw.filter(pl.col("local_time").is_null())
    if unparsed.height:
        bad = unparsed.row(0, named=True)
        raise ValueError(
            f"{origin}: race {bad['race']!r} year {bad['year']} has date={bad['date']!r} hour={bad['hour_local']!r}; "
            "expected a 'YYYY-MM-DD' date and an 'HH:MM:SS' hour"
        )
    raw = raw.with_columns(
        pl.int_range(pl.len()).over("race", "date", "local_time").alias("_nth"),
        pl.len().over("race", "date", "local_time").alias("_listed"),
    )
    if raw["_listed"].max() is not None and raw["_listed"].max() > 2:
        bad = raw.filter(pl.col("_listed") > 2).row(0, named=True)
        raise ValueError(
            f"{origin}: race {bad['race']!r} {bad['date']} hour {bad['hour_local']} is listed "
            f"{bad['_listed']} times; expected at most twice (only on a DST change)"
        )
    ambiguous = (
        pl.when(pl.col("_listed") == 1)
        .then(pl.lit("null"))  # a single listing of an ambiguous hour cannot be placed
        .when(pl.col("_nth") == 0)
        .then(pl.lit("earliest"))
        .otherwise(pl.lit("latest"))
    )
    parts = []
    for tz in sorted(raw["timezone"].unique().to_list()):
        part = raw.filter(pl.col("timezone") == tz).with_columns(
            pl.col("local_time")
            .dt.replace_time_zone(tz, ambiguous=ambiguous, non_existent="null")
            .dt.convert_time_zone("UTC")
            .alias("observed_at_utc")
        )
        parts.append(part)
    out = pl.concat(parts)
    unplaced = out.filter(pl.col("observed_at_utc").is_null())
    if unplaced.height:
        bad = unplaced.row(0, named=True)
        raise ValueError(
            f"{origin}: race {bad['race']!r} local time {bad['local_time']} does not exist or is "
            f"ambiguous in {bad['timezone']}; expected a wall-clock time that maps to one UTC instant"
        )
    repeated = out.filter(pl.struct("race", "observed_at_utc").is_duplicated())
    if repeated.height:
        bad = repeated.row(0, named=True)
        raise ValueError(
            f"{origin}: race {bad['race']!r} {bad['date']} hour {bad['hour_local']} is listed twice but is "
            f"not a repeated DST hour in {bad['timezone']}; expected each hour once"
        )
    return out


def _visualcrossing_frame(raw: pl.DataFrame, timezones: Mapping[str, str], origin: str) -> pl.DataFrame:
    """raw columns: race, location, year, date, hour_local, temp_f, dew_f, windspeed_mph, conditions,
    cloudcover (%), solarradiation (W/m2); the last two null where the file has none."""
    if raw.height == 0:
        return pl.DataFrame(schema=WEATHER_OBSERVATIONS_SCHEMA)
    placed = _local_hours_to_utc(raw, timezones, origin)
    race_ids = [race_id_for(r, y) for r, y in zip(placed["race"].to_list(), placed["year"].to_list())]
    framed = placed.with_columns(
        pl.lit(SOURCE_VISUALCROSSING).alias("source"),
        f_to_c(pl.col("temp_f").cast(pl.Float64)).alias("temp_c"),
        f_to_c(pl.col("dew_f").cast(pl.Float64)).alias("dew_point_c"),
        pl.lit(None, dtype=pl.Float64).alias("rh_pct"),
        mph_to_m_s(pl.col("windspeed_mph").cast(pl.Float64)).alias("wind_m_s"),
        pl.Series("race_id", race_ids, dtype=pl.String),
        pl.col("location").replace_strict(
            {k: v[0] for k, v in VISUALCROSSING_PLACES.items()}, default=None, return_dtype=pl.Float64
        ).alias("latitude_deg"),
        pl.col("location").replace_strict(
            {k: v[1] for k, v in VISUALCROSSING_PLACES.items()}, default=None, return_dtype=pl.Float64
        ).alias("longitude_deg"),
        pl.col("solarradiation").cast(pl.Float64).alias("shortwave_w_m2"),
        pl.col("cloudcover").cast(pl.Float64).alias("cloud_cover_pct"),
    )
    return _finish(framed)


def _filter_race(raw: pl.DataFrame, race_name: str | None, year: int | None, origin: str) -> pl.DataFrame:
    if race_name is not None:
        if race_name not in set(raw["race"].to_list()):
            raise ValueError(f"{origin}: race={race_name!r} not found; expected one of {sorted(set(raw['race'].to_list()))}")
        raw = raw.filter(pl.col("race") == race_name)
    if year is not None:
        raw = raw.filter(pl.col("year") == year)
    return raw


def read_visualcrossing_json(
    path: str | Path,
    race_name: str | None = None,
    year: int | None = None,
    *,
    timezones: Mapping[str, str] | None = None,
    marathons_path: str | Path | None = None,
) -> pl.DataFrame:
    """Visual Crossing race-day hours (marathon-weather weather.json) as weather_observations.

    Local hours become UTC with each race's IANA timezone, taken from `timezones`
    (race name -> zone) or from marathons.json (default: the file next to `path`).
    """
    path = Path(path)
    races = json.loads(path.read_text(encoding="utf-8"))
    rows: list[dict[str, Any]] = []
    for i, race in enumerate(races):
        for field in ("race", "location", "history"):
            if field not in race:
                raise ValueError(f"{path}: race entry {i} has no {field!r} field; expected race, location, history")
        for edition in race["history"]:
            for hour in edition.get("weather") or []:
                rows.append(
                    {
                        "race": race["race"],
                        "location": race["location"],
                        "year": edition["year"],
                        "date": edition["date"],
                        "hour_local": hour["datetime"],
                        "temp_f": hour.get("temp"),
                        "dew_f": hour.get("dew"),
                        "windspeed_mph": hour.get("windspeed"),
                        "conditions": hour.get("conditions"),
                        "cloudcover": hour.get("cloudcover"),
                        "solarradiation": hour.get("solarradiation"),
                    }
                )
    raw = pl.DataFrame(
        rows,
        schema={
            "race": pl.String,
            "location": pl.String,
            "year": pl.Int64,
            "date": pl.String,
            "hour_local": pl.String,
            "temp_f": pl.Float64,
            "dew_f": pl.Float64,
            "windspeed_mph": pl.Float64,
            "conditions": pl.String,
            "cloudcover": pl.Float64,
            "solarradiation": pl.Float64,
        },
    )
    raw = _filter_race(raw, race_name, year, str(path))
    return _visualcrossing_frame(raw, _resolve_timezones(path, timezones, marathons_path), str(path))


def read_visualcrossing_csv(
    path: str | Path,
    race_name: str | None = None,
    year: int | None = None,
    *,
    timezones: Mapping[str, str] | None = None,
    marathons_path: str | Path | None = None,
) -> pl.DataFrame:
    """The flat Visual Crossing file (weather_hourly_flat.csv) as weather_observations."""
    path = Path(path)
    needed = ["race", "location", "year", "date", "hour_local", "temp_f", "dew_f", "windspeed_mph", "conditions"]
    raw = pl.read_csv(path, infer_schema=False)
    absent = [c for c in needed if c not in raw.columns]
    if absent:
        raise ValueError(f"{path}: column {absent[0]!r} missing; expected columns {needed}")
    optional = [c for c in ("cloudcover", "solarradiation") if c in raw.columns]
    raw = raw.select(needed + optional).with_columns(
        [pl.lit(None, dtype=pl.String).alias(c) for c in ("cloudcover", "solarradiation") if c not in optional]
    )
    for col in ("year", "temp_f", "dew_f", "windspeed_mph", *optional):
        dtype = pl.Int64 if col == "year" else pl.Float64
        cast = raw[col].cast(dtype, strict=False)
        bad = raw.with_row_index("row", offset=1).filter(cast.is_null() & raw[col].is_not_null())
        if bad.height:
            row = bad.row(0, named=True)
            raise ValueError(f"row {row['row']} of {path.name}: {col}={row[col]!r} is not a number")
        raw = raw.with_columns(cast.alias(col))
    raw = _filter_race(raw, race_name, year, str(path))
    return _visualcrossing_frame(raw, _resolve_timezones(path, timezones, marathons_path), str(path))


# ---------------------------------------------------------------- IEM ASOS / METAR


def _iem_number(frame: pl.DataFrame, col: str, origin: str) -> pl.Series:
    """Column as Float64 with 'M' (missing) and 'T' (trace) as null; other text is an error."""
    if col not in frame.columns:
        return pl.Series(col, [None] * frame.height, dtype=pl.Float64)
    text = frame[col].str.strip_chars()
    nullish = text.is_null() | text.is_in([IEM_MISSING, IEM_TRACE, ""])
    values = text.cast(pl.Float64, strict=False)
    bad = frame.with_row_index("row", offset=1).filter(values.is_null() & ~nullish)
    if bad.height:
        row = bad.row(0, named=True)
        raise ValueError(f"data row {row['row']} of {origin}: {col}={row[col]!r} is not a number, 'M' or 'T'")
    return values.alias(col)


def _iem_conditions(frame: pl.DataFrame) -> pl.Series:
    """METAR-style sky text from the layer columns plus weather codes: 'BKN050 OVC250 -RA BR'."""
    pieces: list[pl.Expr] = []
    for cover, height in IEM_SKY_COLUMNS:
        if cover not in frame.columns:
            continue
        cover_ok = pl.col(cover).is_not_null() & ~pl.col(cover).is_in([IEM_MISSING, ""])
        if height in frame.columns:
            height_ok = pl.col(height).is_not_null() & ~pl.col(height).is_in([IEM_MISSING, ""])
            hundreds_ft = (pl.col(height).cast(pl.Float64, strict=False) / 100).round(0).cast(pl.Int64).cast(pl.String).str.zfill(3)
            layer = pl.when(height_ok).then(pl.col(cover) + hundreds_ft).otherwise(pl.col(cover))
        else:
            layer = pl.col(cover)
        pieces.append(pl.when(cover_ok).then(layer))
    if "wxcodes" in frame.columns:
        pieces.append(pl.when(~pl.col("wxcodes").is_in([IEM_MISSING, ""])).then(pl.col("wxcodes")))
    if not pieces:
        return pl.Series("conditions", [None] * frame.height, dtype=pl.String)
    joined = pl.concat_str(pieces, separator=" ", ignore_nulls=True)
    return frame.select(pl.when(joined != "").then(joined).alias("conditions")).to_series()


def read_iem_asos_csv(path: str | Path, race_id: str | None = None) -> pl.DataFrame:
    """Iowa Environmental Mesonet ASOS/METAR CSV download as weather_observations.

    Expects `valid` in UTC ("YYYY-MM-DD HH:MM", the download's default tz=Etc/UTC),
    °F for tmpf/dwpf, knots for sknt, 'M' for missing; '#' lines are skipped. The station's
    `lat`/`lon` are kept when the download has them; ASOS reports sky layers (in `conditions`),
    not a cloud-cover number, and no radiation.
    """
    path = Path(path)
    frame = pl.read_csv(path, infer_schema=False, comment_prefix="#")
    for col in ("station", "valid", "tmpf", "dwpf", "sknt"):
        if col not in frame.columns:
            raise ValueError(f"{path}: column {col!r} missing; expected an IEM ASOS CSV with station,valid,tmpf,dwpf,sknt")
    frame = frame.with_columns(pl.col(pl.String).str.strip_chars())
    observed = frame["valid"].str.to_datetime("%Y-%m-%d %H:%M", time_unit="us", time_zone="UTC", strict=False)
    unparsed = frame.with_row_index("row", offset=1).filter(observed.is_null())
    if unparsed.height:
        row = unparsed.row(0, named=True)
        raise ValueError(f"data row {row['row']} of {path.name}: valid={row['valid']!r} is not 'YYYY-MM-DD HH:MM' (UTC)")
    origin = path.name
    temp_c = f_to_c(_iem_number(frame, "tmpf", origin))
    dew_c = f_to_c(_iem_number(frame, "dwpf", origin))
    out = pl.DataFrame(
        {
            "source": (SOURCE_IEM_ASOS_PREFIX + ":" + frame["station"]),
            "location": frame["station"],
            "observed_at_utc": observed,
            "temp_c": temp_c,
            "dew_point_c": dew_c,
            "rh_pct": _iem_number(frame, "relh", origin),
            "wind_m_s": knots_to_m_s(_iem_number(frame, "sknt", origin)),
            "conditions": _iem_conditions(frame),
            "race_id": pl.Series([race_id] * frame.height, dtype=pl.String),
            "latitude_deg": _iem_number(frame, "lat", origin),
            "longitude_deg": _iem_number(frame, "lon", origin),
        }
    )
    return _finish(out)


# ---------------------------------------------------------------- Open-Meteo

_OPEN_METEO_TEMP_UNITS = {"°C": "c", "°F": "f"}
_OPEN_METEO_WIND_TO_M_S = {"km/h": kmh_to_m_s, "m/s": lambda x: x, "mph": mph_to_m_s, "kn": knots_to_m_s}
_UTC_NAMES = {"GMT", "UTC", "Etc/UTC", "Etc/GMT"}


def _open_meteo_series(hourly: Mapping[str, Any], keys: tuple[str, ...], n: int) -> tuple[str | None, pl.Series]:
    for key in keys:
        if key in hourly:
            values = hourly[key]
            if len(values) != n:
                raise ValueError(f"open-meteo payload: hourly.{key} has {len(values)} values; expected {n} (one per hourly.time)")
            return key, pl.Series(key, values, dtype=pl.Float64, strict=False)
    return None, pl.Series(keys[0], [None] * n, dtype=pl.Float64)


def read_open_meteo_json(
    payload: Mapping[str, Any], location: str, race_id: str | None = None
) -> pl.DataFrame:
    """Open-Meteo hourly response (already parsed JSON) as weather_observations.

    Honours hourly_units (°C/°F; km/h, m/s, mph, kn; W/m²; %; hPa; iso8601 or unixtime) and
    the response timezone: IANA zones with DST, else the fixed utc_offset_seconds. Keeps the
    response's latitude/longitude and, when requested, shortwave_radiation, cloud_cover and
    surface_pressure.
    """
    if "hourly" not in payload or "time" not in payload["hourly"]:
        raise ValueError("open-meteo payload: no hourly.time; expected a response requested with hourly=...")
    hourly = payload["hourly"]
    units = payload.get("hourly_units", {})
    n = len(hourly["time"])

    time_unit = units.get("time", "iso8601")
    if time_unit == "unixtime":
        observed = (pl.Series("t", hourly["time"], dtype=pl.Int64) * 1_000_000).cast(pl.Datetime("us", "UTC"))
    elif time_unit == "iso8601":
        local = pl.Series("t", hourly["time"], dtype=pl.String).str.to_datetime("%Y-%m-%dT%H:%M", time_unit="us", strict=False)
        if local.null_count():
            i = local.is_null().arg_true()[0]
            raise ValueError(f"open-meteo payload: hourly.time[{i}]={hourly['time'][i]!r} is not 'YYYY-MM-DDTHH:MM'")
        tz = payload.get("timezone", "GMT")
        if tz in _UTC_NAMES:
            offset_s = int(payload.get("utc_offset_seconds", 0))
            observed = (local - timedelta(seconds=offset_s)).dt.replace_time_zone("UTC")
        else:
            observed = local.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")
            if observed.null_count():
                i = observed.is_null().arg_true()[0]
                raise ValueError(f"open-meteo payload: hourly.time[{i}]={hourly['time'][i]!r} does not exist in timezone {tz!r}")
    else:
        raise ValueError(f"open-meteo payload: hourly_units.time={time_unit!r}; expected 'iso8601' or 'unixtime'")

    temp_key, temp = _open_meteo_series(hourly, ("temperature_2m",), n)
    dew_key, dew = _open_meteo_series(hourly, ("dew_point_2m", "dewpoint_2m"), n)
    rh_key, rh = _open_meteo_series(hourly, ("relative_humidity_2m", "relativehumidity_2m"), n)
    wind_key, wind = _open_meteo_series(hourly, ("wind_speed_10m", "windspeed_10m"), n)
    if temp_key is None:
        raise ValueError("open-meteo payload: no hourly.temperature_2m; expected it in the request's hourly variables")

    def to_c(key: str | None, values: pl.Series) -> pl.Series:
        if key is None:
            return values
        unit = units.get(key, "°C")
        if unit not in _OPEN_METEO_TEMP_UNITS:
            raise ValueError(f"open-meteo payload: hourly_units.{key}={unit!r}; expected one of {sorted(_OPEN_METEO_TEMP_UNITS)}")
        return f_to_c(values) if _OPEN_METEO_TEMP_UNITS[unit] == "f" else values

    if wind_key is not None:
        wind_unit = units.get(wind_key, "km/h")
        if wind_unit not in _OPEN_METEO_WIND_TO_M_S:
            raise ValueError(f"open-meteo payload: hourly_units.{wind_key}={wind_unit!r}; expected one of {sorted(_OPEN_METEO_WIND_TO_M_S)}")
        wind = _OPEN_METEO_WIND_TO_M_S[wind_unit](wind)
    if rh_key is not None and units.get(rh_key, "%") != "%":
        raise ValueError(f"open-meteo payload: hourly_units.{rh_key}={units[rh_key]!r}; expected '%'")
    radiation_key, radiation = _open_meteo_series(hourly, ("shortwave_radiation",), n)
    cloud_key, cloud = _open_meteo_series(hourly, ("cloud_cover", "cloudcover"), n)
    pressure_key, pressure = _open_meteo_series(hourly, ("surface_pressure",), n)
    for key, unit in ((radiation_key, "W/m²"), (cloud_key, "%"), (pressure_key, "hPa")):
        if key is not None and units.get(key, unit) != unit:
            raise ValueError(f"open-meteo payload: hourly_units.{key}={units[key]!r}; expected {unit!r}")
    site = {name: payload.get(name) for name in ("latitude", "longitude")}

    out = pl.DataFrame(
        {
            "source": pl.Series([SOURCE_OPEN_METEO] * n, dtype=pl.String),
            "location": pl.Series([location] * n, dtype=pl.String),
            "observed_at_utc": observed,
            "temp_c": to_c(temp_key, temp),
            "dew_point_c": to_c(dew_key, dew),
            "rh_pct": rh,
            "wind_m_s": wind,
            "conditions": pl.Series([None] * n, dtype=pl.String),
            "race_id": pl.Series([race_id] * n, dtype=pl.String),
            "latitude_deg": pl.Series([site["latitude"]] * n, dtype=pl.Float64),
            "longitude_deg": pl.Series([site["longitude"]] * n, dtype=pl.Float64),
            "shortwave_w_m2": radiation,
            "cloud_cover_pct": cloud,
            "pressure_hpa": pressure,
        }
    )
    return _finish(out)
