"""pandera.polars schemas, one per landing kind, built from the kind registry.

Each column of landing.kinds becomes a pandera Column with its type, nullability and allowed
values; each row rule the kind names that is not a km/course rule (validation.course_rules)
becomes a DataFrameSchema check. Validation always runs on eager frames (a LazyFrame would only
have its schema checked). `validate_frame` returns the good rows and one failure row per
broken (row, check) with a message naming the column, the value and what was expected.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from typing import Any, Callable

import pandera.polars as pa
import polars as pl

from racecramp.columns import Column
from racecramp.domain import MASKED, PATTERN_WORDS
from racecramp.landing.kinds import (
    DEW_POINT_NOT_ABOVE_TEMPERATURE,
    FIRST_OF_KEY,
    KINDS,
    KM_MATCHES_POINT,
    KM_WITHIN_COURSE,
    ONSET_ONLY_IF_CRAMPED,
    ONSET_WITHIN_COURSE,
    POINT_ON_COURSE,
    RACE_IS_KNOWN,
    Kind,
)
from racecramp.validation.coerce import FAILURE_SCHEMA

# Context columns joined in before validation (course length); never stored.
COURSE_KM = "_course_km"
COURSE_RULES = (RACE_IS_KNOWN, KM_WITHIN_COURSE, POINT_ON_COURSE, KM_MATCHES_POINT)

# Columns that may hold a name if misused (landing.kinds: personal), and what they expect in words.
PERSONAL_WORDS = {c.name: PATTERN_WORDS.get(c.pattern, c.constraint_words()) for k in KINDS.values() for c in k.columns
                  if c.personal}

# What each row rule expects, in words a volunteer or analyst understands.
EXPECTATIONS: dict[str, str] = {
    RACE_IS_KNOWN: "a race_id that has been imported (racecramp import race)",
    KM_WITHIN_COURSE: "km between 0 and the race distance",
    ONSET_WITHIN_COURSE: "onset_km between 0 and the race distance",
    POINT_ON_COURSE: "a point_id of this race's course",
    FIRST_OF_KEY: "a key not already used earlier in the same batch",
    DEW_POINT_NOT_ABOVE_TEMPERATURE: "dew point not above the air temperature",
    ONSET_ONLY_IF_CRAMPED: "onset_km only when cramped is true",
    "not_nullable": "a value (it is required)",
    "type": "a value of the right type",
}
# The column a row rule is about (pandera reports DataFrameSchema checks without one).
RULE_COLUMNS: dict[str, str] = {
    ONSET_WITHIN_COURSE: "onset_km",
    DEW_POINT_NOT_ABOVE_TEMPERATURE: "dew_point_c",
    ONSET_ONLY_IF_CRAMPED: "onset_km",
}


def _first_of_key(kind: Kind) -> Callable[[pa.PolarsData], pl.LazyFrame]:
    keys = list(kind.natural_key)

    def check(data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.struct(keys).is_first_distinct())

    return check


def _dew_not_above_temperature(data: pa.PolarsData) -> pl.LazyFrame:
    return data.lazyframe.select(pl.col("dew_point_c").is_null() | (pl.col("dew_point_c") <= pl.col("temp_c") + 0.5))


def _onset_within_course(data: pa.PolarsData) -> pl.LazyFrame:
    return data.lazyframe.select(
        pl.col("onset_km").is_null() | pl.col(COURSE_KM).is_null() | (pl.col("onset_km") <= pl.col(COURSE_KM))
    )


def _onset_only_if_cramped(data: pa.PolarsData) -> pl.LazyFrame:
    return data.lazyframe.select(pl.col("onset_km").is_null() | pl.col("cramped"))


def _row_rule(kind: Kind, rule: str) -> pa.Check:
    functions = {
        FIRST_OF_KEY: _first_of_key(kind),
        DEW_POINT_NOT_ABOVE_TEMPERATURE: _dew_not_above_temperature,
        ONSET_WITHIN_COURSE: _onset_within_course,
        ONSET_ONLY_IF_CRAMPED: _onset_only_if_cramped,
    }
    return pa.Check(functions[rule], name=rule)


def column_checks(column: Column) -> list[pa.Check]:
    """The pandera checks of a declared column's allowed values."""
    checks = []
    if column.ge is not None and column.le is not None:
        checks.append(pa.Check.in_range(column.ge, column.le))
    elif column.ge is not None:
        checks.append(pa.Check.ge(column.ge))
    elif column.le is not None:
        checks.append(pa.Check.le(column.le))
    if column.isin is not None:
        checks.append(pa.Check.isin(list(column.isin)))
    if column.pattern is not None:
        checks.append(pa.Check.str_matches(column.pattern))
    if column.min_len is not None or column.max_len is not None:
        checks.append(pa.Check.str_length(column.min_len, column.max_len))
    return checks


@cache
def kind_schema(name: str) -> pa.DataFrameSchema:
    """The pandera schema of a landing kind (extra context columns allowed, types already coerced)."""
    kind = KINDS[name]
    columns = {
        c.name: pa.Column(c.dtype, checks=column_checks(c), nullable=c.nullable, required=True)
        for c in kind.columns
        if not c.derived
    }
    rules = [_row_rule(kind, r) for r in kind.rules if r not in COURSE_RULES and r in RULE_FUNCTIONS]
    return pa.DataFrameSchema(columns, checks=rules, strict=False, coerce=False, name=name)


RULE_FUNCTIONS = (FIRST_OF_KEY, DEW_POINT_NOT_ABOVE_TEMPERATURE, ONSET_WITHIN_COURSE, ONSET_ONLY_IF_CRAMPED)


@dataclass
class Validated:
    good: pl.DataFrame  # canonical columns (+ context columns) of rows that passed every check
    failures: pl.DataFrame  # _row, column, check, value, message


def expectation(check: str) -> str:
    """Turn a pandera check name such as 'in_range(10, 100)' into words."""
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


def show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def validate_frame(frame: pl.DataFrame, kind: str) -> Validated:
    """Run the pandera schema of `kind` eagerly; split good rows from failures."""
    try:
        kind_schema(kind).validate(frame, lazy=True)
        return Validated(frame, pl.DataFrame(schema=FAILURE_SCHEMA))
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
        cases = cases.filter(pl.col("index").is_not_null())
        if cases.height == 0:  # schema-level failure (a missing column): a bug upstream, not bad data
            raise ValueError(f"{kind} frame does not have the canonical columns: {err}") from None
    rows = []
    for case in cases.iter_rows(named=True):
        row_index = int(case["index"])
        column = case["column"] if case["schema_context"] == "Column" else None
        check = str(case["check"])
        if column is None:
            column = RULE_COLUMNS.get(check)
            value = frame[column][row_index] if column is not None and column in frame.columns else None
        else:
            value = frame[column][row_index] if column in frame.columns else case["failure_case"]
        if column in PERSONAL_WORDS and value is not None:  # may hold a name: never echoed
            value = MASKED.format(n=len(str(value)))
            message = f"{column}={value}: expected {PERSONAL_WORDS[column]}"
        elif check == "not_nullable":
            message = f"{column} is missing: expected {expectation(check)}"
        elif column:
            message = f"{column}={show(value)}: expected {expectation(check)}"
        else:
            message = f"expected {expectation(check)}"
        rows.append({"_row": int(frame["_row"][row_index]), "column": column, "check": check,
                     "value": None if value is None else str(value), "message": message})
    failures = pl.DataFrame(rows, schema=FAILURE_SCHEMA).unique(maintain_order=True)
    good = frame.filter(~pl.col("_row").is_in(failures["_row"].unique().implode()))
    return Validated(good, failures)
