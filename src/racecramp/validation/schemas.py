"""pandera.polars models, one per landing kind, and the quarantine record.

Validation always runs on eager frames (a LazyFrame would only have its schema checked).
`validate_records` returns the good rows and one failure row per broken (row, check) with a
message that names the row, the column, the value and what was expected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandera.polars as pa
import polars as pl

from racecramp.domain import (
    MUSCLE_GROUPS,
    SEXES,
    TREATMENTS,
    Disposition,
    PointKind,
    ReportSource,
    Severity,
)

UTC_DT = pl.Datetime("us", "UTC")

# Canonical column types of each landing kind, in warehouse order (docs/warehouse.md).
COLUMNS: dict[str, dict[str, pl.DataType]] = {
    "participants": {
        "race_id": pl.String, "bib": pl.String, "sex": pl.String, "age": pl.Int32,
        "wave": pl.Int32, "declared_finish_s": pl.Float64, "declared_is_synthetic": pl.Boolean,
        "finished": pl.Boolean, "official_time_s": pl.Float64, "simulated": pl.Boolean,
    },
    "passings": {
        "race_id": pl.String, "bib": pl.String, "point_id": pl.String, "km": pl.Float64,
        "net_time_s": pl.Float64, "passed_at_utc": UTC_DT, "simulated": pl.Boolean,
    },
    "weather": {
        "source": pl.String, "location": pl.String, "observed_at_utc": UTC_DT,
        "temp_c": pl.Float64, "dew_point_c": pl.Float64, "rh_pct": pl.Float64,
        "wind_m_s": pl.Float64, "conditions": pl.String, "race_id": pl.String,
        "interpolated": pl.Boolean, "simulated": pl.Boolean,
    },
    "reports": {
        "report_id": pl.String, "race_id": pl.String, "source": pl.String,
        "simulated": pl.Boolean, "point_id": pl.String, "km": pl.Float64, "bib": pl.String,
        "reported_at_utc": UTC_DT, "muscle_group": pl.String, "severity": pl.String,
        "treatment": pl.String, "disposition": pl.String, "entered_by": pl.String,
    },
    "survey": {
        "race_id": pl.String, "bib": pl.String, "cramped": pl.Boolean, "onset_km": pl.Float64,
        "muscles": pl.String, "longest_training_run_km": pl.Float64, "weekly_km": pl.Float64,
        "strength_training": pl.Boolean, "plyometrics": pl.Boolean,
        "target_pace_s_per_km": pl.Float64, "electrolyte_drinks": pl.Boolean,
        "heat_acclimatised": pl.Boolean, "prior_cramps": pl.Boolean, "simulated": pl.Boolean,
    },
    "alert_actions": {
        "alert_id": pl.String, "action": pl.String, "by": pl.String, "at_utc": UTC_DT,
    },
    "course_points": {
        "race_id": pl.String, "point_id": pl.String, "kind": pl.String, "km": pl.Float64,
        "label": pl.String, "beds": pl.Int32, "position_source": pl.String,
    },
    "race_closures": {
        "race_id": pl.String, "closed_at_utc": UTC_DT, "closed_by": pl.String,
    },
}

# Defaults for optional flags so a live report need not send them.
DEFAULTS: dict[str, dict[str, Any]] = {
    "participants": {"simulated": False, "declared_is_synthetic": False},
    "passings": {"simulated": False},
    "weather": {"interpolated": False, "simulated": False},
    "reports": {"simulated": False},
    "survey": {"simulated": False},
}

NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "participants": ("race_id", "bib"),
    "passings": ("race_id", "bib", "point_id"),
    "weather": ("source", "location", "observed_at_utc"),
    "reports": ("report_id",),
    "survey": ("race_id", "bib"),
    "alert_actions": ("alert_id", "action", "at_utc"),
    "course_points": ("race_id", "point_id"),
    "race_closures": ("race_id", "closed_at_utc"),
}

# Context columns joined in before validation (course length, known points).
CONTEXT_COLUMNS = ("_course_km", "_point_km", "_source_row", "_race_known")


def _known_race(data: pa.PolarsData) -> pl.LazyFrame:
    return data.lazyframe.select(pl.col("_race_known").fill_null(False))


def _km_on_course(data: pa.PolarsData) -> pl.LazyFrame:
    return data.lazyframe.select(
        pl.col("km").is_null() | pl.col("_course_km").is_null() | (pl.col("km") <= pl.col("_course_km"))
    )


def _key_first(keys: tuple[str, ...]):
    def check(data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.struct(list(keys)).is_first_distinct())

    return check


class _Record(pa.DataFrameModel):
    """Every landing kind: extra (context) columns allowed, types already coerced."""

    class Config:
        strict = False
        coerce = False


class _RaceRecord(_Record):
    """A record of one race: the race must be known."""

    @pa.dataframe_check(name="race_is_known")
    def race_is_known(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _known_race(data)


class _KmRecord(_RaceRecord):
    """A record at a km of the race's course: within the course length."""

    @pa.dataframe_check(name="km_within_course")
    def km_within_course(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _km_on_course(data)


class _PointRecord(_KmRecord):
    """A record at a point of the course: the point must be one of the race's points."""

    @pa.dataframe_check(name="point_on_course")
    def point_on_course(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("_point_km").is_not_null())


class Participant(_RaceRecord):
    race_id: str = pa.Field(str_length={"min_value": 1})
    bib: str = pa.Field(str_length={"min_value": 1, "max_value": 16})
    sex: str = pa.Field(nullable=True, isin=list(SEXES))
    age: pl.Int32 = pa.Field(nullable=True, in_range={"min_value": 10, "max_value": 100})
    wave: pl.Int32 = pa.Field(nullable=True, ge=0)
    declared_finish_s: float = pa.Field(nullable=True, in_range={"min_value": 3600, "max_value": 12 * 3600})
    declared_is_synthetic: bool
    finished: bool
    official_time_s: float = pa.Field(nullable=True, in_range={"min_value": 3600, "max_value": 12 * 3600})
    simulated: bool


    @pa.dataframe_check(name="first_occurrence_of_key")
    def first_of_key(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _key_first(NATURAL_KEYS["participants"])(data)


class Passing(_PointRecord):
    race_id: str = pa.Field(str_length={"min_value": 1})
    bib: str = pa.Field(str_length={"min_value": 1, "max_value": 16})
    point_id: str = pa.Field(str_length={"min_value": 1})
    km: float = pa.Field(ge=0)
    net_time_s: float = pa.Field(in_range={"min_value": 0, "max_value": 12 * 3600})
    passed_at_utc: UTC_DT = pa.Field(nullable=True)
    simulated: bool


class WeatherObservation(_Record):
    source: str = pa.Field(str_length={"min_value": 1})
    location: str = pa.Field(str_length={"min_value": 1})
    observed_at_utc: UTC_DT
    temp_c: float = pa.Field(in_range={"min_value": -40, "max_value": 55})
    dew_point_c: float = pa.Field(nullable=True, in_range={"min_value": -60, "max_value": 40})
    rh_pct: float = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 100})
    wind_m_s: float = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 75})
    conditions: str = pa.Field(nullable=True)
    race_id: str = pa.Field(nullable=True)
    interpolated: bool
    simulated: bool


    @pa.dataframe_check(name="dew_point_not_above_temperature")
    def dew_not_above_temp(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.col("dew_point_c").is_null() | (pl.col("dew_point_c") <= pl.col("temp_c") + 0.5)
        )


class CrampReport(_PointRecord):
    report_id: str = pa.Field(str_matches=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    race_id: str = pa.Field(str_length={"min_value": 1})
    source: str = pa.Field(isin=[s.value for s in ReportSource])
    simulated: bool
    point_id: str = pa.Field(str_length={"min_value": 1})
    km: float = pa.Field(ge=0)
    bib: str = pa.Field(nullable=True, str_length={"min_value": 1, "max_value": 16})
    reported_at_utc: UTC_DT
    muscle_group: str = pa.Field(nullable=True, isin=list(MUSCLE_GROUPS))
    severity: str = pa.Field(nullable=True, isin=[s.value for s in Severity])
    treatment: str = pa.Field(nullable=True, isin=list(TREATMENTS))
    disposition: str = pa.Field(nullable=True, isin=[d.value for d in Disposition])
    entered_by: str = pa.Field(nullable=True)


class SurveyResponse(_RaceRecord):
    race_id: str = pa.Field(str_length={"min_value": 1})
    bib: str = pa.Field(str_length={"min_value": 1, "max_value": 16})
    cramped: bool
    onset_km: float = pa.Field(nullable=True, ge=0)
    muscles: str = pa.Field(nullable=True)
    longest_training_run_km: float = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 100})
    weekly_km: float = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 400})
    strength_training: bool = pa.Field(nullable=True)
    plyometrics: bool = pa.Field(nullable=True)
    target_pace_s_per_km: float = pa.Field(nullable=True, in_range={"min_value": 150, "max_value": 1200})
    electrolyte_drinks: bool = pa.Field(nullable=True)
    heat_acclimatised: bool = pa.Field(nullable=True)
    prior_cramps: bool = pa.Field(nullable=True)
    simulated: bool


    @pa.dataframe_check(name="onset_km_within_course")
    def onset_within_course(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.col("onset_km").is_null() | pl.col("_course_km").is_null() | (pl.col("onset_km") <= pl.col("_course_km"))
        )

    @pa.dataframe_check(name="onset_only_if_cramped")
    def onset_only_if_cramped(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("onset_km").is_null() | pl.col("cramped"))

    @pa.dataframe_check(name="first_occurrence_of_key")
    def first_of_key(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _key_first(NATURAL_KEYS["survey"])(data)


class AlertAction(_Record):
    alert_id: str = pa.Field(str_length={"min_value": 1})
    action: str = pa.Field(isin=["acknowledge", "resolve"])
    by: str = pa.Field(str_length={"min_value": 1})
    at_utc: UTC_DT


class CoursePoint(_KmRecord):
    race_id: str = pa.Field(str_length={"min_value": 1})
    point_id: str = pa.Field(str_matches=r"^[a-z0-9][a-z0-9-]*$")
    kind: str = pa.Field(isin=[k.value for k in PointKind])
    km: float = pa.Field(ge=0)
    label: str
    beds: pl.Int32 = pa.Field(nullable=True, ge=0)
    position_source: str = pa.Field(nullable=True)


class RaceClosure(_RaceRecord):
    race_id: str = pa.Field(str_length={"min_value": 1})
    closed_at_utc: UTC_DT
    closed_by: str = pa.Field(str_length={"min_value": 1})


MODELS: dict[str, type[pa.DataFrameModel]] = {
    "participants": Participant,
    "passings": Passing,
    "weather": WeatherObservation,
    "reports": CrampReport,
    "survey": SurveyResponse,
    "alert_actions": AlertAction,
    "course_points": CoursePoint,
    "race_closures": RaceClosure,
}

# What each check expects, in words a volunteer or analyst understands.
EXPECTATIONS: dict[str, str] = {
    "race_is_known": "a race_id that has been imported (racecramp import race)",
    "km_within_course": "km between 0 and the race distance",
    "onset_km_within_course": "onset_km between 0 and the race distance",
    "point_on_course": "a point_id of this race's course",
    "first_occurrence_of_key": "a key not already used earlier in the same batch",
    "dew_point_not_above_temperature": "dew point not above the air temperature",
    "onset_only_if_cramped": "onset_km only when cramped is true",
    "not_nullable": "a value (it is required)",
    "type": "a value of the right type",
}


@dataclass
class Validated:
    good: pl.DataFrame  # canonical columns (+ context columns) of rows that passed every check
    failures: pl.DataFrame  # _row, column, check, value, message


FAILURE_SCHEMA = {"_row": pl.Int64, "column": pl.String, "check": pl.String, "value": pl.String, "message": pl.String}


def _expectation(check: str) -> str:
    """Turn a pandera check name such as 'in_range(10, 100)' into words."""
    import ast
    import re

    if check in EXPECTATIONS:
        return EXPECTATIONS[check]
    match = re.fullmatch(r"(\w+)\((.*)\)", check, flags=re.S)
    if not match:
        return check
    name, args_text = match.groups()
    try:
        args = ast.literal_eval(f"({args_text},)") if args_text else ()
    except (ValueError, SyntaxError):
        args = (args_text,)
    words = {
        "greater_than_or_equal_to": lambda a: f">= {a[0]}",
        "less_than_or_equal_to": lambda a: f"<= {a[0]}",
        "greater_than": lambda a: f"> {a[0]}",
        "less_than": lambda a: f"< {a[0]}",
        "in_range": lambda a: f"between {a[0]} and {a[1]}",
        "isin": lambda a: "one of " + ", ".join(str(v) for v in a[0]),
        "str_length": lambda a: f"text of {a[0]} to {a[1] if a[1] is not None else 'any number of'} characters",
        "str_matches": lambda a: f"text matching {a[0]}",
    }
    if name in words:
        try:
            return words[name](args)
        except (IndexError, TypeError):
            return check
    return check


def coerce_records(records: list[dict[str, Any]] | pl.DataFrame, kind: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Put landed records into the canonical column types of `kind`.

    Returns (frame, type_failures). The frame has the canonical columns plus `_row`
    (position in the batch) and `_record` (the record as JSON, for quarantine). A value
    that cannot be read as its column's type becomes a type failure, never a silent null.
    """
    schema = COLUMNS[kind]
    defaults = DEFAULTS.get(kind, {})
    if isinstance(records, pl.DataFrame):
        raw = records
        record_json = raw.select(pl.struct(pl.all()).struct.json_encode().alias("_record"))["_record"]
    else:
        raw = pl.DataFrame(
            {c: [None if r.get(c) is None else _as_text(r.get(c)) for r in records] for c in schema},
            schema={c: pl.String for c in schema},
        )
        record_json = pl.Series("_record", [json.dumps(r, default=str, sort_keys=True) for r in records])
    n = raw.height
    columns: dict[str, pl.Series] = {}
    failures: list[pl.DataFrame] = []
    for col, dtype in schema.items():
        if col in raw.columns:
            original = raw[col]
        else:
            original = pl.Series(col, [None] * n, dtype=pl.String)
        converted = _convert(original, dtype)
        if col in defaults:
            filled_missing = original.is_null()
            converted = pl.select(
                pl.when(pl.lit(filled_missing)).then(pl.lit(defaults[col], dtype=dtype)).otherwise(pl.lit(converted))
            ).to_series()
        bad = original.is_not_null() & converted.is_null()
        if bad.any():
            idx = pl.Series(range(n)).filter(bad)
            values = original.cast(pl.String, strict=False).filter(bad)
            failures.append(
                pl.DataFrame(
                    {
                        "_row": idx.cast(pl.Int64),
                        "column": [col] * len(idx),
                        "check": ["type"] * len(idx),
                        "value": values,
                        "message": [f"{col}={v!r}: expected {_type_words(dtype)}" for v in values],
                    },
                    schema=FAILURE_SCHEMA,
                )
            )
        columns[col] = converted.alias(col)
    frame = pl.DataFrame(columns).with_columns(
        pl.Series("_row", range(n), dtype=pl.Int64), record_json.alias("_record")
    )
    fails = pl.concat(failures) if failures else pl.DataFrame(schema=FAILURE_SCHEMA)
    return frame, fails


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _type_words(dtype: pl.DataType) -> str:
    if dtype == pl.Boolean:
        return "true or false"
    if dtype.is_integer():
        return "a whole number"
    if dtype.is_float():
        return "a number"
    if isinstance(dtype, pl.Datetime):
        return "an ISO 8601 timestamp with time zone"
    return "text"


def _convert(series: pl.Series, dtype: pl.DataType) -> pl.Series:
    if series.dtype == dtype:
        return series
    if dtype == pl.String:
        return series.cast(pl.String)
    if isinstance(dtype, pl.Datetime):
        if isinstance(series.dtype, pl.Datetime):
            if series.dtype.time_zone is None:  # naive timestamps from a file are UTC by contract
                return series.dt.replace_time_zone("UTC").dt.cast_time_unit("us")
            return series.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
        return series.cast(pl.String).str.to_datetime(time_zone="UTC", time_unit="us", strict=False)
    if dtype == pl.Boolean:
        if series.dtype == pl.String:
            lowered = series.str.strip_chars().str.to_lowercase()
            return (
                pl.select(
                    pl.when(lowered.is_in(["true", "1", "yes", "y", "t"])).then(True)
                    .when(lowered.is_in(["false", "0", "no", "n", "f"])).then(False)
                    .otherwise(None)
                )
                .to_series()
                .alias(series.name)
            )
        return series.cast(pl.Boolean, strict=False)
    if dtype.is_integer():
        as_float = series.cast(pl.Float64, strict=False) if series.dtype == pl.String else series.cast(pl.Float64, strict=False)
        whole = as_float.is_not_null() & (as_float == as_float.round(0))
        return pl.select(pl.when(whole).then(as_float).otherwise(None).cast(dtype)).to_series().alias(series.name)
    if series.dtype == pl.String:
        return series.str.strip_chars().cast(dtype, strict=False)
    return series.cast(dtype, strict=False)


def validate_frame(frame: pl.DataFrame, kind: str) -> Validated:
    """Run the pandera model for `kind` eagerly; split good rows from failures."""
    model = MODELS[kind]
    try:
        model.validate(frame, lazy=True)
        return Validated(frame, pl.DataFrame(schema=FAILURE_SCHEMA))
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
    cases = cases.filter(pl.col("index").is_not_null())
    if cases.height == 0:  # schema-level failure (a missing column): a bug upstream, not bad data
        raise ValueError(f"{kind} frame does not have the canonical columns: {err}")
    rows = []
    for case in cases.iter_rows(named=True):
        row = int(case["index"])
        column = case["column"] if case["schema_context"] == "Column" else None
        check = str(case["check"])
        if column is None:
            value = None
            check_cols = _check_columns(check)
            column = check_cols[0] if check_cols else None
            if column is not None and column in frame.columns:
                value = frame[column][row]
        else:
            value = frame[column][row] if column in frame.columns else case["failure_case"]
        if check == "not_nullable":
            message = f"{column} is missing: expected {_expectation(check)}"
        else:
            message = f"{column}={_show(value)}: expected {_expectation(check)}" if column else f"expected {_expectation(check)}"
        rows.append({"_row": row, "column": column, "check": check, "value": None if value is None else str(value), "message": message})
    failures = pl.DataFrame(rows, schema=FAILURE_SCHEMA).unique(maintain_order=True)
    bad_rows = failures["_row"].unique()
    good = frame.filter(~pl.col("_row").is_in(bad_rows.implode()))
    return Validated(good, failures)


def _check_columns(check: str) -> tuple[str, ...]:
    return {
        "race_is_known": ("race_id",),
        "km_within_course": ("km",),
        "onset_km_within_course": ("onset_km",),
        "point_on_course": ("point_id",),
        "dew_point_not_above_temperature": ("dew_point_c",),
        "onset_only_if_cramped": ("onset_km",),
        "first_occurrence_of_key": (),
    }.get(check, ())


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)
