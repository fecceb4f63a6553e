"""Heat on the course: relative humidity, estimated WBGT, ACSM flag, and weather as of an event.

Pure polars. WBGT is *estimated* from weather-station values (no globe or natural
wet-bulb thermometer), so every row names its method in `wbgt_method`; see docs/heat.md
for the equations, their sources and their known error.
"""

from __future__ import annotations

from collections.abc import Sequence

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
WBGT_METHOD_BOM = "bom_approx"  # thermofeel.calculate_wbgt_simple: 0.567*Ta + 0.393*e + 3.94
WBGT_METHOD_OVERCAST = "overcast_stull"  # thermofeel WBGT with mrt = Ta, Stull (2011) wet bulb

# Sky words that mean no direct sun: Visual Crossing "Overcast", METAR overcast (OVC) or an
# obscured sky (VV = vertical visibility), and fog (FG) / "Fog".
NO_DIRECT_SUN_PATTERN = r"(?i)overcast|\bOVC\d*\b|\bVV\d*\b|\bFG\b|\bfog\b"

# Weather sources in order of preference for asof_weather: direct station observations,
# then Visual Crossing (station-derived history), then the Open-Meteo model, then replay.
DEFAULT_SOURCE_PRIORITY: tuple[str, ...] = ("iem-asos", "visualcrossing", "open-meteo", "replay")

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


def wbgt_method(conditions: str | pl.Expr | None = "conditions") -> pl.Expr:
    """Which estimate wbgt_estimate uses per row: overcast_stull under cloud cover, else bom_approx."""
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


def wbgt_estimate(
    temp_c: str | pl.Expr = "temp_c",
    rh_pct: str | pl.Expr = "rh_pct",
    conditions: str | pl.Expr | None = "conditions",
) -> pl.Expr:
    """Estimated WBGT (°C) from air temperature, relative humidity and, when given, the sky text.

    Sun possible (or sky unknown): BoM approximation, thermofeel.calculate_wbgt_simple.
    No direct sun (overcast/obscured/fog): 0.7*Stull wet bulb + 0.3*Ta, i.e.
    thermofeel.calculate_wbgt with mean radiant temperature = air temperature.
    Wind does not enter: neither estimate can use it without a solar-radiation input.
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


def with_heat(weather: pl.LazyFrame, *, use_conditions: bool = True) -> pl.LazyFrame:
    """Weather rows plus rh_pct (from dew point when null), wbgt_c, wbgt_method and wbgt_flag."""
    schema = weather.collect_schema()
    for name in ("temp_c", "dew_point_c", "rh_pct"):
        if name not in schema:
            raise ValueError(f"with_heat: weather frame has no column {name!r}; expected the weather_observations columns")
    conditions = "conditions" if use_conditions and "conditions" in schema else None
    return (
        weather.with_columns(pl.coalesce(pl.col("rh_pct"), rh_from_dew_point("temp_c", "dew_point_c")).alias("rh_pct"))
        .with_columns(
            wbgt_estimate("temp_c", "rh_pct", conditions).alias("wbgt_c"),
            wbgt_method(conditions).alias("wbgt_method"),
        )
        .with_columns(
            wbgt_flag("wbgt_c").alias("wbgt_flag"),
            pl.when(pl.col("wbgt_c").is_not_null()).then(pl.col("wbgt_method")).alias("wbgt_method"),
        )
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
    """Each event with the latest observation at or before its time (within tolerance, inclusive).

    One weather source per `by` group (see preferred_weather_source) so a race's series never
    jumps between a station and a model. Events keep their order; events with no observation
    in [time - tolerance, time] get nulls. Weather's source/location/interpolated/simulated
    come back as weather_source, weather_location, weather_interpolated, weather_simulated.
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
    if keys:
        weather = weather.join(chosen, on=keys + ["source"], how="semi")
    else:
        weather = weather.join(chosen, on="source", how="semi")

    renames = {old: new for old, new in _WEATHER_RENAMES.items() if old in weather_schema}
    if by != "race_id" and "race_id" in weather_schema:
        renames["race_id"] = "weather_race_id"
    weather = weather.rename(renames)
    attached = [c for c in weather.collect_schema().names() if c not in keys]
    clashes = sorted(set(attached) & set(event_schema.names()))
    if clashes:
        raise ValueError(f"asof_weather: events already have column {clashes[0]!r}, which the weather would attach; rename it first")

    row = "__asof_event_row"
    joined = (
        events.with_row_index(row)
        .sort(time_col, nulls_last=True)
        .join_asof(
            weather.sort("observed_at_utc"),
            left_on=time_col,
            right_on="observed_at_utc",
            by=by,
            strategy="backward",
            tolerance=tolerance,
            coalesce=False,
            # Both sides are sorted on time just above; polars cannot verify that within by-groups.
            check_sortedness=False,
        )
        .sort(row)
        .drop(row)
    )
    return joined
