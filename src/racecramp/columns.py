"""A column, declared once: name, type, whether it may be empty, what it means and the
values it may take. The landing-kind registry (landing.kinds) and the mart registry
(marts.registry) are lists of these; validation, the warehouse DDL check, the mart checks
and docs/warehouse.md are all derived from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

UTC_DT = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class Column:
    """One column of a landing kind, a warehouse table or a mart."""

    name: str
    dtype: pl.DataType | type[pl.DataType]
    description: str
    nullable: bool = True
    # allowed values, checked on landing (kinds) and on output (marts)
    ge: float | None = None
    le: float | None = None
    isin: tuple[Any, ...] | None = None
    pattern: str | None = None
    min_len: int | None = None
    max_len: int | None = None
    # the value used when a landed record does not carry the column (flags such as simulated)
    default: Any = None
    # computed by the ingest (age_band, wave_start_utc), not sent by a landing record
    derived: bool = False
    # the DuckDB type when it is not the dtype's usual one (UUID, JSON)
    sql: str | None = None
    # free text could carry a name here: a value failing this column's checks is masked (never
    # kept) in quarantine and raw records, and not echoed in error messages
    personal: bool = False
    # set by whoever lands the record (the intake from the token's principal, a bulk reader from
    # the file's name), never sent by a client (entered_by)
    assigned: bool = False

    @property
    def sql_type(self) -> str:
        return self.sql or sql_type(self.dtype)

    def constraint_words(self) -> str:
        """The allowed values in words, for docs and error messages."""
        words = []
        if self.isin is not None:
            words.append("one of " + ", ".join(f"`{v}`" for v in self.isin))
        if self.ge is not None and self.le is not None:
            words.append(f"{self.ge:g} to {self.le:g}")
        elif self.ge is not None:
            words.append(f">= {self.ge:g}")
        elif self.le is not None:
            words.append(f"<= {self.le:g}")
        if self.pattern is not None:
            words.append(f"matches `{self.pattern}`")
        if self.max_len is not None:
            words.append(f"at most {self.max_len} characters")
        return "; ".join(words)


def sql_type(dtype: pl.DataType | type[pl.DataType]) -> str:
    """The DuckDB type a polars dtype is stored as (what DESCRIBE shows)."""
    dtype = dtype() if isinstance(dtype, type) else dtype
    if dtype == pl.String:
        return "VARCHAR"
    if dtype == pl.Boolean:
        return "BOOLEAN"
    if dtype == pl.Float64:
        return "DOUBLE"
    if dtype == pl.Float32:
        return "FLOAT"
    if dtype == pl.Int64:
        return "BIGINT"
    if dtype == pl.Int32:
        return "INTEGER"
    if dtype == pl.UInt32:
        return "UINTEGER"
    if dtype == pl.Date:
        return "DATE"
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMP WITH TIME ZONE" if dtype.time_zone else "TIMESTAMP"
    if isinstance(dtype, pl.List):
        return f"{sql_type(dtype.inner)}[]"
    if isinstance(dtype, pl.Struct):
        return "STRUCT(" + ", ".join(f"{f.name} {sql_type(f.dtype)}" for f in dtype.fields) + ")"
    raise ValueError(f"no DuckDB type for polars dtype {dtype}")


def schema_of(columns: tuple[Column, ...], include_derived: bool = True) -> dict[str, pl.DataType]:
    """{name: polars dtype} in declaration order."""
    return {c.name: (c.dtype() if isinstance(c.dtype, type) else c.dtype) for c in columns if include_derived or not c.derived}


def require_columns(frame: pl.DataFrame | pl.LazyFrame, name: str, columns: tuple[str, ...] | list[str]) -> None:
    """Raise naming the input, what is missing and what was expected (every transform's guard)."""
    have = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    missing = [c for c in columns if c not in have]
    if missing:
        raise ValueError(
            f"{name} has no column(s) {', '.join(missing)}; expected {', '.join(columns)} (docs/warehouse.md)"
        )
