"""Heat on the course: relative humidity, estimated WBGT, ACSM flag, and weather at an event's time.

WBGT is *estimated* from weather-station values (no globe or natural wet-bulb thermometer):
outdoor WBGT by the Liljegren et al. (2008) model (lwbgt, the Argonne reference code) from
air temperature, humidity, 10 m wind, pressure and solar irradiance (the feed's, else pvlib
clear-sky irradiance reduced for cloud cover); the simple estimates only as a labelled
fallback when an input is missing. Every row names its method in `wbgt_method` and carries
the inputs used; see docs/heat.md for the equations, their sources and their known error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lwbgt
import numpy as np
import polars as pl
import thermofeel

from racecramp.domain import WBGT_BLACK_ABOVE_C, WBGT_RED_FROM_C, WBGT_WHITE_BELOW_C, WBGT_YELLOW_FROM_C, WbgtFlag

# Magnus-Tetens saturation vapour pressure over water, e_s = 6.11 * 10**(a*T / (b + T)) hPa,
# with Tetens (1930) / Murray (1967, J. Appl. Meteor. 6:203) coefficients. These are the
# coefficients of thermofeel.calculate_relative_humidity_percent (ECMWF thermofeel 2.3), so
# our rh_pct equals the library's; the expression form keeps it lazy.
MAGNUS_TETENS_A = 7.5
MAGNUS_TETENS_B_C = 237.3

KELVIN_OFFSET = 273.15

# ISO 7243 outdoor weights: WBGT = 0.7*Tnwb + 0.2*Tg + 0.1*Ta. With no radiant load the globe
# sits at air temperature (thermofeel.calculate_bgt returns Ta when mrt = Ta), giving
# 0.7*Tnwb + 0.3*Ta.
ISO7243_WET_BULB_WEIGHT = 0.7
ISO7243_GLOBE_WEIGHT = 0.2
ISO7243_AIR_WEIGHT = 0.1

# Method labels written to `wbgt_method`.
WBGT_METHOD_LILJEGREN = "liljegren"  # lwbgt: Liljegren et al. (2008) outdoor WBGT, Argonne C code
WBGT_METHOD_BOM = "bom_approx"  # fallback: thermofeel.calculate_wbgt_simple, 0.567*Ta + 0.393*e + 3.94
WBGT_METHOD_OVERCAST = "overcast_stull"  # fallback: thermofeel WBGT with mrt = Ta, Stull (2011) wet bulb
WBGT_METHODS = (WBGT_METHOD_LILJEGREN, WBGT_METHOD_BOM, WBGT_METHOD_OVERCAST)

# ---- Liljegren inputs (docs/heat.md, "Inputs and their sources")
# Every feed we read reports wind at the standard anemometer height, 10 m (WMO-No. 8, ch. 5;
# ASOS; Open-Meteo wind_speed_10m). lwbgt brings it to the 2 m sensor height with Liljegren's
# power law whose exponent depends on the Pasquill stability class (Liljegren et al. 2008).
WIND_SENSOR_HEIGHT_M = 10.0
# Marathon courses run through city streets: lwbgt's urban wind-profile exponents
# (Liljegren et al. 2008) rather than the rural ones.
URBAN_SITE = 1
# No feed measures the vertical temperature difference; lwbgt uses only its sign, at night
# (stable vs neutral class). +1 assumes a night-time inversion, as lwbgt's README suggests.
VERTICAL_TEMPERATURE_DIFFERENCE_C = 1.0
# Open-Meteo's shortwave_radiation is the mean over the preceding hour (open-meteo.com/en/docs,
# "preceding hour sum/mean"); lwbgt centres the sun position in that interval. Readings and
# our own clear-sky estimates are instantaneous (0).
FEED_IRRADIANCE_AVERAGING_MIN = {"open-meteo": 60}
# Kasten & Czeplak (1980, Solar Energy 24:177-189), global irradiance under a cloud fraction
# N/8 (N oktas): G = G_clear * (1 - 0.75 * (N/8)**3.4).
KASTEN_CZEPLAK_A = 0.75
KASTEN_CZEPLAK_B = 3.4
# Cloud cover (%) read from sky text when the feed gives no number. METAR layer amounts are
# oktas ranges (WMO-No. 306 / FMH-1 ch. 9: FEW 1-2, SCT 3-4, BKN 5-7, OVC 8); we take the
# range's middle and the most covered layer. Visual Crossing's words have no published
# thresholds: ASSUMPTION "Clear" 0 %, "Partially cloudy" 50 %, "Overcast" 100 % (docs/heat.md
# gives the WBGT at 25 % and 75 % to show what this assumption moves).
SKY_TEXT_CLOUD_COVER_PCT: tuple[tuple[str, float], ...] = (
    (r"(?i)\b(SKC|CLR|NCD|NSC)\b|^\s*clear\b", 0.0),
    (r"\bFEW\d*\b", 100.0 * 1.5 / 8),
    (r"\bSCT\d*\b", 100.0 * 3.5 / 8),
    (r"(?i)partially cloudy", 50.0),
    (r"\bBKN\d*\b", 100.0 * 6 / 8),
    (r"(?i)overcast|\bOVC\d*\b|\bVV\d*\b|\bFG\b|\bfog\b", 100.0),
)
# Where the irradiance given to Liljegren came from (`solar_source`).
SOLAR_FROM_FEED = "feed"
SOLAR_FROM_CLOUD_COVER = "pvlib_clearsky_x_cloud_cover"  # the feed's cloud_cover_pct
SOLAR_FROM_SKY_TEXT = "pvlib_clearsky_x_sky_text"  # cloud cover read from `conditions`
SOLAR_SUN_DOWN = "sun_below_horizon"  # pvlib apparent zenith >= 90 degrees: no irradiance
# Where the pressure came from (`pressure_source`): the feed's station pressure, else the
# standard atmosphere at the site's elevation (pvlib.atmosphere.alt2pres, elevation from
# pvlib.location.lookup_altitude).
PRESSURE_FROM_FEED = "feed"
PRESSURE_FROM_STANDARD_ATMOSPHERE = "standard_atmosphere"
# The optional weather columns the Liljegren model reads; absent columns count as null.
LILJEGREN_INPUT_COLUMNS: dict[str, pl.DataType] = {
    "latitude_deg": pl.Float64(),
    "longitude_deg": pl.Float64(),
    "shortwave_w_m2": pl.Float64(),
    "cloud_cover_pct": pl.Float64(),
    "pressure_hpa": pl.Float64(),
}
# What the Liljegren step adds to each row (with_heat).
_LILJEGREN_OUTPUT = pl.Struct(
    {
        "solar_zenith_deg": pl.Float64,
        "solar_w_m2": pl.Float64,
        "solar_source": pl.String,
        "pressure_used_hpa": pl.Float64,
        "pressure_source": pl.String,
        "wind_2m_m_s": pl.Float64,
        "globe_temp_c": pl.Float64,
        "natural_wet_bulb_c": pl.Float64,
        "liljegren_wbgt_c": pl.Float64,
        "fallback_reason": pl.String,
    }
)

# Sky words that mean no direct sun: Visual Crossing "Overcast", METAR overcast (OVC) or an
# obscured sky (VV = vertical visibility), and fog (FG) / "Fog".
NO_DIRECT_SUN_PATTERN = r"(?i)overcast|\bOVC\d*\b|\bVV\d*\b|\bFG\b|\bfog\b"

# Weather sources in order of preference for asof_weather: direct station observations,
# then Visual Crossing (station-derived history), then the Open-Meteo model, then replay.
DEFAULT_SOURCE_PRIORITY: tuple[str, ...] = ("iem-asos", "visualcrossing", "open-meteo", "replay")

# The later of the two observations asof_weather interpolates between.
NEXT_OBSERVATION_COLUMN = "weather_next_at_utc"

# Columns of the weather frame that asof_weather renames so they cannot clash with event columns.
_WEATHER_RENAMES = {
    "source": "weather_source",
    "location": "weather_location",
    "interpolated": "weather_interpolated",
    "simulated": "weather_simulated",
}


def _col(x: str | pl.Expr) -> pl.Expr:
    return pl.col(x) if isinstance(x, str) else x


def rh_from_dew_point(temp_c: str | pl.Expr = "temp_c", dew_point_c: str | pl.Expr = "dew_point_c") -> pl.Expr:
    """Relative humidity (%) from air temperature and dew point, Magnus-Tetens, capped at 100."""
    t, td = _col(temp_c), _col(dew_point_c)
    exponent = MAGNUS_TETENS_A * td / (MAGNUS_TETENS_B_C + td) - MAGNUS_TETENS_A * t / (MAGNUS_TETENS_B_C + t)
    # A dew point a rounding step above the air temperature (fog) would give > 100 %.
    return (100.0 * pl.lit(10.0).pow(exponent)).clip(upper_bound=100.0)


def no_direct_sun(conditions: str | pl.Expr = "conditions") -> pl.Expr:
    """True when the sky text says overcast, obscured or fog; null text counts as sun possible."""
    return _col(conditions).str.contains(NO_DIRECT_SUN_PATTERN).fill_null(False)


def simple_wbgt_method(conditions: str | pl.Expr | None = "conditions") -> pl.Expr:
    """Which simple estimate simple_wbgt_estimate uses per row: overcast_stull under cloud cover, else bom_approx."""
    if conditions is None:
        return pl.lit(WBGT_METHOD_BOM)
    return pl.when(no_direct_sun(conditions)).then(pl.lit(WBGT_METHOD_OVERCAST)).otherwise(pl.lit(WBGT_METHOD_BOM))


def _wbgt_batch(batch: pl.Series) -> pl.Series:
    t_c = batch.struct.field("t").cast(pl.Float64).fill_null(np.nan).to_numpy()
    rh = batch.struct.field("rh").cast(pl.Float64).fill_null(np.nan).to_numpy()
    overcast = batch.struct.field("overcast").fill_null(False).to_numpy()
    t_k = t_c + KELVIN_OFFSET
    with np.errstate(invalid="ignore"):
        bom_c = thermofeel.calculate_wbgt_simple(t_k, rh) - KELVIN_OFFSET
        wet_bulb_c = thermofeel.calculate_wbt(t_k, rh) - KELVIN_OFFSET
    shade_c = ISO7243_WET_BULB_WEIGHT * wet_bulb_c + (ISO7243_GLOBE_WEIGHT + ISO7243_AIR_WEIGHT) * t_c
    out = np.where(overcast, shade_c, bom_c)
    return pl.Series(out, dtype=pl.Float64).fill_nan(None)


def simple_wbgt_estimate(
    temp_c: str | pl.Expr = "temp_c",
    rh_pct: str | pl.Expr = "rh_pct",
    conditions: str | pl.Expr | None = "conditions",
) -> pl.Expr:
    """The fallback WBGT (°C) from air temperature, relative humidity and, when given, the sky text.

    Sun possible (or sky unknown): BoM approximation, thermofeel.calculate_wbgt_simple.
    No direct sun (overcast/obscured/fog): 0.7*Stull wet bulb + 0.3*Ta, i.e.
    thermofeel.calculate_wbgt with mean radiant temperature = air temperature.
    Wind does not enter: neither estimate can use it without a solar-radiation input. with_heat
    uses it only where an input of the Liljegren model is missing.
    """
    overcast = pl.lit(False) if conditions is None else no_direct_sun(conditions)
    return pl.struct(
        _col(temp_c).alias("t"), _col(rh_pct).alias("rh"), overcast.alias("overcast")
    ).map_batches(_wbgt_batch, return_dtype=pl.Float64, is_elementwise=True)


def wbgt_flag(wbgt_c: str | pl.Expr = "wbgt_c") -> pl.Expr:
    """ACSM race flag for a WBGT in °C: each lower bound is inclusive, black only above 28."""
    w = _col(wbgt_c)
    return (
        pl.when(w.is_null() | w.is_nan())
        .then(pl.lit(None, dtype=pl.String))
        .when(w < WBGT_WHITE_BELOW_C)
        .then(pl.lit(WbgtFlag.WHITE.value))
        .when(w < WBGT_YELLOW_FROM_C)
        .then(pl.lit(WbgtFlag.GREEN.value))
        .when(w < WBGT_RED_FROM_C)
        .then(pl.lit(WbgtFlag.YELLOW.value))
        .when(w <= WBGT_BLACK_ABOVE_C)
        .then(pl.lit(WbgtFlag.RED.value))
        .otherwise(pl.lit(WbgtFlag.BLACK.value))
    )


def sky_text_cloud_cover_pct(conditions: str | pl.Expr = "conditions") -> pl.Expr:
    """Cloud cover (%) read from sky text: the most covered METAR layer or Visual Crossing word; null when none."""
    text = _col(conditions)
    return pl.max_horizontal(
        *[pl.when(text.str.contains(pattern)).then(pl.lit(pct)) for pattern, pct in SKY_TEXT_CLOUD_COVER_PCT]
    )


def cloud_reduced_irradiance_w_m2(clear_sky_w_m2: np.ndarray, cloud_cover_pct: np.ndarray) -> np.ndarray:
    """Kasten & Czeplak (1980): clear-sky global irradiance reduced for the cloud fraction."""
    fraction = np.clip(cloud_cover_pct / 100.0, 0.0, 1.0)
    return clear_sky_w_m2 * (1.0 - KASTEN_CZEPLAK_A * fraction**KASTEN_CZEPLAK_B)


def _sun_and_clear_sky(times: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pvlib apparent solar zenith (deg), Ineichen clear-sky GHI (W/m2) and standard-atmosphere
    pressure (hPa) at the site's elevation, per row; one pvlib call per site."""
    import pandas as pd
    import pvlib

    zenith = np.full(len(times), np.nan)
    clear = np.full(len(times), np.nan)
    pressure = np.full(len(times), np.nan)
    located = ~(np.isnan(lat) | np.isnan(lon))
    for site_lat, site_lon in {(a, b) for a, b in zip(lat[located], lon[located])}:
        rows = located & (lat == site_lat) & (lon == site_lon)
        index = pd.DatetimeIndex(times[rows]).tz_localize("UTC")
        altitude_m = float(pvlib.location.lookup_altitude(site_lat, site_lon))
        site = pvlib.location.Location(site_lat, site_lon, tz="UTC", altitude=altitude_m)
        position = site.get_solarposition(index)
        zenith[rows] = position["apparent_zenith"].to_numpy()
        clear[rows] = site.get_clearsky(index, model="ineichen", solar_position=position)["ghi"].to_numpy()
        pressure[rows] = pvlib.atmosphere.alt2pres(altitude_m) / 100.0
    return zenith, clear, pressure


def _liljegren_batch(batch: pl.Series) -> pl.Series:
    """The Liljegren step of with_heat for a batch of rows (see with_heat)."""
    field = batch.struct.field
    n = len(batch)
    times = field("observed_at_utc").dt.replace_time_zone(None).to_numpy()
    sources = field("source").fill_null("").to_list()
    values = {
        name: field(name).cast(pl.Float64).fill_null(np.nan).to_numpy()
        for name in ("lat", "lon", "temp_c", "rh_pct", "wind_m_s", "shortwave", "cloud", "pressure")
    }
    sky_text_cloud = field("cloud_from_sky_text").fill_null(False).to_numpy()
    zenith, clear_sky, standard_pressure = _sun_and_clear_sky(times, values["lat"], values["lon"])

    feed_solar = ~np.isnan(values["shortwave"])
    sun_down = zenith >= 90.0
    solar = np.where(feed_solar, values["shortwave"],
                     np.where(sun_down, 0.0, cloud_reduced_irradiance_w_m2(clear_sky, values["cloud"])))
    solar_source = np.where(
        feed_solar, SOLAR_FROM_FEED,
        np.where(sun_down, SOLAR_SUN_DOWN, np.where(sky_text_cloud, SOLAR_FROM_SKY_TEXT, SOLAR_FROM_CLOUD_COVER)),
    ).astype(object)
    solar_source[np.isnan(solar)] = None
    feed_pressure = ~np.isnan(values["pressure"])
    pressure = np.where(feed_pressure, values["pressure"], standard_pressure)
    pressure_source = np.where(feed_pressure, PRESSURE_FROM_FEED, PRESSURE_FROM_STANDARD_ATMOSPHERE).astype(object)
    pressure_source[np.isnan(pressure)] = None

    missing = [
        ("no site coordinates", np.isnan(values["lat"]) | np.isnan(values["lon"])),
        ("no air temperature", np.isnan(values["temp_c"])),
        ("no humidity", np.isnan(values["rh_pct"])),
        ("no wind", np.isnan(values["wind_m_s"])),
        ("no irradiance, cloud cover or sky text", np.isnan(solar)),
    ]
    reason = np.full(n, None, dtype=object)
    unexplained = np.ones(n, dtype=bool)
    for words, absent in missing:  # the first missing input names the reason
        reason[absent & unexplained] = words
        unexplained &= ~absent

    out = {name: np.full(n, np.nan) for name in ("wind_2m_m_s", "globe_temp_c", "natural_wet_bulb_c", "liljegren_wbgt_c")}
    runnable = np.flatnonzero(unexplained)
    records = []
    for i in runnable:
        t = times[i].astype("datetime64[m]").item()
        records.append(
            lwbgt.Input(
                year=t.year, month=t.month, day=t.day, hour=t.hour, minute=t.minute, gmt_offset_hours=0,
                averaging_minutes=FEED_IRRADIANCE_AVERAGING_MIN.get(sources[i].split(":")[0], 0) if feed_solar[i] else 0,
                urban=URBAN_SITE, latitude_deg_north=float(values["lat"][i]), longitude_deg_east=float(values["lon"][i]),
                solar_w_m2=float(solar[i]), pressure_hpa=float(pressure[i]), air_temperature_c=float(values["temp_c"][i]),
                relative_humidity_percent=float(values["rh_pct"][i]), wind_speed_m_s=float(values["wind_m_s"][i]),
                wind_height_m=WIND_SENSOR_HEIGHT_M, vertical_temperature_difference_c=VERTICAL_TEMPERATURE_DIFFERENCE_C,
            )
        )
    for i, result in zip(runnable, lwbgt.calculate_batch(records, psychrometric=False)):
        if result.status != 0:
            reason[i] = f"Liljegren model did not converge (lwbgt status {result.status})"
            continue
        out["wind_2m_m_s"][i] = result.estimated_wind_speed_m_s
        out["globe_temp_c"][i] = result.globe_temperature_c
        out["natural_wet_bulb_c"][i] = result.natural_wet_bulb_c
        out["liljegren_wbgt_c"][i] = result.wbgt_c

    columns = {
        "solar_zenith_deg": zenith, "solar_w_m2": solar, "solar_source": solar_source,
        "pressure_used_hpa": pressure, "pressure_source": pressure_source, **out, "fallback_reason": reason,
    }
    return pl.DataFrame(
        {name: pl.Series(name, list(v) if v.dtype == object else v, dtype=_LILJEGREN_OUTPUT.to_schema()[name], nan_to_null=True)
         for name, v in columns.items()}
    ).to_struct()


def with_heat(weather: pl.LazyFrame, *, use_conditions: bool = True) -> pl.LazyFrame:
    """Weather rows plus rh_pct (from dew point when null), the Liljegren WBGT and its inputs,
    the simple estimate where an input is missing, wbgt_method and wbgt_flag.

    use_conditions=False makes the simple fallback BoM throughout and stops cloud cover being
    read from the sky text (a row then needs shortwave_w_m2 or cloud_cover_pct for Liljegren).
    """
    schema = weather.collect_schema()
    for name in ("observed_at_utc", "temp_c", "dew_point_c", "rh_pct"):
        if name not in schema:
            raise ValueError(f"with_heat: weather frame has no column {name!r}; expected the weather_observations columns")
    absent = {name: dtype for name, dtype in LILJEGREN_INPUT_COLUMNS.items() if name not in schema}
    weather = weather.with_columns(*[pl.lit(None, dtype=dtype).alias(name) for name, dtype in absent.items()])
    conditions = "conditions" if use_conditions and "conditions" in schema else None
    sky_cloud = sky_text_cloud_cover_pct(conditions) if conditions else pl.lit(None, dtype=pl.Float64)
    source = pl.col("source") if "source" in schema else pl.lit(None, dtype=pl.String)
    wind = pl.col("wind_m_s") if "wind_m_s" in schema else pl.lit(None, dtype=pl.Float64)
    liljegren = pl.struct(
        pl.col("observed_at_utc"), source.alias("source"), pl.col("latitude_deg").alias("lat"),
        pl.col("longitude_deg").alias("lon"), pl.col("temp_c"), pl.col("rh_pct"), wind.alias("wind_m_s"),
        pl.col("shortwave_w_m2").alias("shortwave"), pl.col("cloud_cover_used_pct").alias("cloud"),
        pl.col("pressure_hpa").alias("pressure"),
        (pl.col("cloud_cover_pct").is_null() & pl.col("cloud_cover_used_pct").is_not_null()).alias("cloud_from_sky_text"),
    ).map_batches(_liljegren_batch, return_dtype=_LILJEGREN_OUTPUT, is_elementwise=True)
    simple = simple_wbgt_estimate("temp_c", "rh_pct", conditions)
    return (
        weather.with_columns(
            pl.coalesce(pl.col("rh_pct"), rh_from_dew_point("temp_c", "dew_point_c")).alias("rh_pct"),
            pl.coalesce(pl.col("cloud_cover_pct"), sky_cloud).alias("cloud_cover_used_pct"),
        )
        .with_columns(liljegren.alias("_liljegren"))
        .unnest("_liljegren")
        .with_columns(
            pl.coalesce(pl.col("liljegren_wbgt_c"), simple).alias("wbgt_c"),
            pl.when(pl.col("liljegren_wbgt_c").is_not_null())
            .then(pl.lit(WBGT_METHOD_LILJEGREN))
            .otherwise(simple_wbgt_method(conditions))
            .alias("wbgt_method"),
        )
        .with_columns(
            wbgt_flag("wbgt_c").alias("wbgt_flag"),
            pl.when(pl.col("wbgt_c").is_not_null()).then(pl.col("wbgt_method")).alias("wbgt_method"),
        )
        .drop("liljegren_wbgt_c")
    )


def _source_rank(source: pl.Expr, priority: Sequence[str]) -> pl.Expr:
    """Position of the source's kind (text before ':') in the priority list; unknown kinds last."""
    kind = source.str.split(":").list.first()
    return kind.replace_strict(list(priority), list(range(len(priority))), default=len(priority), return_dtype=pl.Int64)


def preferred_weather_source(
    weather: pl.LazyFrame, by: str | None = None, source_priority: Sequence[str] = DEFAULT_SOURCE_PRIORITY
) -> pl.LazyFrame:
    """One source per `by` group (per race): highest priority kind, then most observations, then name."""
    keys = [by] if by else []
    counts = weather.group_by(keys + ["source"]).agg(pl.len().alias("n_observations"))
    ranked = counts.with_columns(_source_rank(pl.col("source"), source_priority).alias("rank")).sort(
        keys + ["rank", "n_observations", "source"], descending=[False] * len(keys) + [False, True, False]
    )
    if keys:
        return ranked.group_by(keys, maintain_order=True).first().select(keys + ["source"])
    return ranked.head(1).select("source")


def _require_utc_datetime(schema: pl.Schema, column: str, frame_name: str) -> None:
    if column not in schema:
        raise ValueError(f"asof_weather: {frame_name} has no column {column!r}")
    dtype = schema[column]
    if dtype != pl.Datetime("us", "UTC"):
        raise ValueError(f"asof_weather: {frame_name}.{column} is {dtype}; expected Datetime('us', 'UTC')")


def asof_weather(
    events: pl.LazyFrame,
    weather: pl.LazyFrame,
    time_col: str,
    by: str | None = None,
    tolerance: str = "90m",
    *,
    source_priority: Sequence[str] = DEFAULT_SOURCE_PRIORITY,
) -> pl.LazyFrame:
    """Each event with the weather at its time, linearly interpolated between the two observations around it.

    The earlier observation is the latest at or before the event (an exact match counts), the
    later one the first after it; each must be within `tolerance` of the event (inclusive).
    With both, every numeric weather column (wbgt_c and its inputs) is interpolated in time and
    wbgt_flag is recomputed from the interpolated wbgt_c; a text column keeps the earlier value,
    or reads "earlier/later" where the two differ (wbgt_method "liljegren/bom_approx").
    With only the earlier one (the live edge of a feed, a gap), its values are carried as they
    are; with no earlier one the weather columns are null. `observed_at_utc` is the earlier
    observation's time, `weather_next_at_utc` the later one's (null when not used), and
    weather_interpolated is true when the value lies strictly between two observations.

    One weather source per `by` group (see preferred_weather_source) so a race's series never
    jumps between a station and a model. Events keep their order. Weather's
    source/location/interpolated/simulated come back as weather_source, weather_location,
    weather_interpolated, weather_simulated.
    """
    event_schema = events.collect_schema()
    weather_schema = weather.collect_schema()
    _require_utc_datetime(event_schema, time_col, "events")
    _require_utc_datetime(weather_schema, "observed_at_utc", "weather")
    if "source" not in weather_schema:
        raise ValueError("asof_weather: weather has no column 'source'; expected the weather_observations columns")
    if by is not None:
        for frame_name, schema in (("events", event_schema), ("weather", weather_schema)):
            if by not in schema:
                raise ValueError(f"asof_weather: {frame_name} has no column {by!r} to join by")

    chosen = preferred_weather_source(weather, by, source_priority)
    keys = [by] if by else []
    weather = weather.join(chosen, on=keys + ["source"], how="semi")

    renames = {old: new for old, new in _WEATHER_RENAMES.items() if old in weather_schema}
    if by != "race_id" and "race_id" in weather_schema:
        renames["race_id"] = "weather_race_id"
    weather = weather.rename(renames)
    weather_schema = weather.collect_schema()
    attached = [c for c in weather_schema.names() if c not in keys]
    clashes = sorted(set(attached + [NEXT_OBSERVATION_COLUMN]) & set(event_schema.names()))
    if clashes:
        raise ValueError(f"asof_weather: events already have column {clashes[0]!r}, which the weather would attach; rename it first")

    row = "__asof_event_row"
    later = {c: f"__later_{c}" for c in attached}
    sorted_weather = weather.sort("observed_at_utc")

    def bracket(frame: pl.LazyFrame, side: pl.LazyFrame, strategy: str, on: str) -> pl.LazyFrame:
        return frame.join_asof(
            side, left_on=time_col, right_on=on, by=by, strategy=strategy, tolerance=tolerance, coalesce=False,
            # Both sides are sorted on time just above; polars cannot verify that within by-groups.
            check_sortedness=False,
        )

    ordered = events.with_row_index(row).sort(time_col, nulls_last=True)
    with_earlier = bracket(ordered, sorted_weather, "backward", "observed_at_utc")
    joined = bracket(with_earlier, sorted_weather.rename(later), "forward", later["observed_at_utc"])

    earlier_at, later_at = pl.col("observed_at_utc"), pl.col(later["observed_at_utc"])
    # An exact match finds the same observation both ways: it is used as it is.
    both = earlier_at.is_not_null() & later_at.is_not_null() & (later_at > earlier_at)
    weight = pl.when(both).then(
        (pl.col(time_col) - earlier_at).dt.total_microseconds() / (later_at - earlier_at).dt.total_microseconds()
    )
    blended = []
    for name in attached:
        dtype, other = weather_schema[name], pl.col(later[name])
        if name == "observed_at_utc" or name in keys:
            continue
        if dtype.is_numeric():
            value = pl.when(both).then(pl.col(name) + weight * (other - pl.col(name))).otherwise(pl.col(name))
            blended.append(value.cast(pl.Float64 if dtype.is_integer() else dtype).alias(name))
        elif dtype == pl.Boolean:
            blended.append(pl.when(both).then(pl.col(name) | other).otherwise(pl.col(name)).alias(name))
        elif dtype == pl.String and name not in ("weather_source", "weather_location", "weather_race_id"):
            differs = both & other.is_not_null() & pl.col(name).is_not_null() & (other != pl.col(name))
            blended.append(pl.when(differs).then(pl.col(name) + "/" + other).otherwise(pl.col(name)).alias(name))
    result = joined.with_columns(blended)
    if "weather_interpolated" in attached:
        result = result.with_columns(
            (pl.col("weather_interpolated") | (weight.fill_null(0.0) > 0.0)).alias("weather_interpolated")
        )
    if "wbgt_flag" in attached and "wbgt_c" in attached:
        result = result.with_columns(wbgt_flag("wbgt_c").alias("wbgt_flag"))
    return (
        result.with_columns(pl.when(both).then(later_at).alias(NEXT_OBSERVATION_COLUMN))
        .drop(list(later.values()), strict=False)
        .sort(row)
        .drop(row)
    )


_METHOD_WORDS = {
    WBGT_METHOD_LILJEGREN: "Liljegren model (lwbgt)",
    WBGT_METHOD_BOM: "BoM approximation (fallback)",
    WBGT_METHOD_OVERCAST: "overcast Stull estimate (fallback)",
}
_SOLAR_WORDS = {
    SOLAR_FROM_FEED: "from the feed",
    SOLAR_FROM_CLOUD_COVER: "pvlib clear sky × the feed's cloud cover",
    SOLAR_FROM_SKY_TEXT: "pvlib clear sky × cloud cover read from the sky text",
    SOLAR_SUN_DOWN: "sun below the horizon",
}


def describe_wbgt(row: Mapping[str, Any]) -> str:
    """One line naming a WBGT's method and the inputs it used (a weather_heat row, or asof_weather's)."""
    method = row.get("wbgt_method")
    if method is None:
        return "no WBGT"
    words = "; then ".join(_METHOD_WORDS.get(m, m) for m in method.split("/"))
    parts = [f"{row['temp_c']:.1f} °C" if row.get("temp_c") is not None else None,
             f"RH {row['rh_pct']:.0f} %" if row.get("rh_pct") is not None else None]
    if WBGT_METHOD_LILJEGREN in method.split("/"):
        if row.get("wind_m_s") is not None:
            at_2m = f" ({row['wind_2m_m_s']:.1f} m/s at 2 m)" if row.get("wind_2m_m_s") is not None else ""
            parts.append(f"wind {row['wind_m_s']:.1f} m/s at {WIND_SENSOR_HEIGHT_M:g} m{at_2m}")
        if row.get("solar_w_m2") is not None:
            estimated = row.get("solar_source") in (SOLAR_FROM_CLOUD_COVER, SOLAR_FROM_SKY_TEXT)
            cloud = f", {row['cloud_cover_used_pct']:.0f} % cloud" if estimated and row.get("cloud_cover_used_pct") is not None else ""
            source = _SOLAR_WORDS.get(row.get("solar_source"), row.get("solar_source") or "")
            parts.append(f"sun {row['solar_w_m2']:.0f} W/m² ({source}{cloud})")
        if row.get("pressure_used_hpa") is not None:
            where = "the feed" if row.get("pressure_source") == PRESSURE_FROM_FEED else "standard atmosphere"
            parts.append(f"{row['pressure_used_hpa']:.0f} hPa ({where})")
    if row.get("fallback_reason"):
        parts.append(f"fallback because: {row['fallback_reason']}")
    return f"{words} from " + ", ".join(p for p in parts if p)
