"""Landed records into their kind's column types (landing.kinds), before any check runs.

A value that cannot be read as its column's type becomes a type failure naming the column,
the value and the type expected, never a silent null; a missing flag takes its default.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from racecramp.landing.kinds import KINDS

FAILURE_SCHEMA = {"_row": pl.Int64, "column": pl.String, "check": pl.String, "value": pl.String, "message": pl.String}


def coerce_records(records: list[dict[str, Any]] | pl.DataFrame, kind: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Put landed records into the canonical column types of `kind`.

    Returns (frame, type_failures). The frame has the canonical columns plus `_row`
    (position in the batch) and `_record` (the record as JSON, for quarantine). A value
    that cannot be read as its column's type becomes a type failure, never a silent null.
    """
    schema = KINDS[kind].schema
    defaults = KINDS[kind].defaults
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
