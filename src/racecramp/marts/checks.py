"""Output checks of every mart, like dbt's schema tests, from what marts.registry declares.

- `columns`: every declared column is there with its declared type;
- `unique`: no two rows share the grain;
- `not_null`: columns declared nullable=False have a value in every row;
- `accepted_values`: values within a column's declared set or range (flags, kinds, statuses,
  dispositions; shares within 0..1, counts >= 0);
- `interval`: low <= estimate <= high where all three are present (a rate and its CI);
- `point_on_course`: every point_id is a point of the row's race;
- `row_rule`: each rule the mart declares holds on every row (a rate's unit names its
  denominator; nothing expected where nobody passed; an alert clears after it opened).

`racecramp marts --check` runs them on the published snapshots and exits non-zero naming the
mart, the check and the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from racecramp.columns import Column
from racecramp.marts.registry import MARTS, Mart

SHOWN_ROWS = 5
TOLERANCE = 1e-9  # floating-point slack in interval comparisons


@dataclass(frozen=True)
class CheckFailure:
    mart: str
    check: str
    detail: str
    rows: pl.DataFrame  # the first offending rows
    count: int

    def describe(self) -> str:
        shown = "; ".join(
            ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in row.items())
            for row in self.rows.head(SHOWN_ROWS).iter_rows(named=True)
        )
        more = f" (and {self.count - SHOWN_ROWS} more)" if self.count > SHOWN_ROWS else ""
        return f"{self.mart}: {self.check} {self.detail}: {self.count} row(s): {shown}{more}"


def _failure(mart: Mart, check: str, detail: str, bad: pl.DataFrame, columns: list[str]) -> list[CheckFailure]:
    if bad.height == 0:
        return []
    keep = [c for c in dict.fromkeys([*mart.grain, *columns]) if c in bad.columns]
    return [CheckFailure(mart.name, check, detail, bad.select(keep).head(SHOWN_ROWS), bad.height)]


def _column_problems(mart: Mart, frame: pl.DataFrame) -> list[CheckFailure]:
    problems = []
    for name, dtype in mart.schema.items():
        if name not in frame.columns:
            problems.append(CheckFailure(mart.name, "columns", f"column {name} is missing", pl.DataFrame(), 1))
        elif frame.schema[name] != dtype and frame.height:
            problems.append(CheckFailure(mart.name, "columns", f"column {name} is {frame.schema[name]}, declared {dtype}",
                                         pl.DataFrame(), 1))
    return problems


def _value_check(column: Column) -> pl.Expr | None:
    """True where the value is allowed (nulls are the not_null check's business)."""
    allowed = []
    value = pl.col(column.name)
    if column.isin is not None:
        allowed.append(value.is_in(list(column.isin)))
    if column.ge is not None:
        allowed.append(value >= column.ge)
    if column.le is not None:
        allowed.append(value <= column.le)
    if not allowed:
        return None
    return value.is_null() | pl.all_horizontal(allowed)


def _words(column: Column) -> str:
    return column.constraint_words()


def check_mart(mart: Mart, frame: pl.DataFrame, course_points: pl.DataFrame | None = None) -> list[CheckFailure]:
    """Every check of one mart on its frame; course_points (race_id, point_id) for point_on_course."""
    problems = _column_problems(mart, frame)
    if problems:
        return problems
    if frame.height == 0:
        return []
    grain = list(mart.grain)
    duplicated = frame.filter(pl.struct(grain).is_duplicated())
    problems += _failure(mart, "unique", f"grain ({', '.join(grain)})", duplicated, grain)
    for column in mart.columns:
        if not column.nullable:
            problems += _failure(mart, "not_null", column.name, frame.filter(pl.col(column.name).is_null()), [column.name])
        allowed = _value_check(column)
        if allowed is not None:
            problems += _failure(mart, "accepted_values", f"{column.name} ({_words(column)})", frame.filter(~allowed),
                                 [column.name])
    for low, estimate, high in mart.intervals:
        ordered = pl.col(low) <= pl.col(high) + TOLERANCE
        if estimate is not None:
            ordered = ordered & (pl.col(low) <= pl.col(estimate) + TOLERANCE) & (pl.col(estimate) <= pl.col(high) + TOLERANCE)
        present = pl.all_horizontal([pl.col(c).is_not_null() for c in (low, estimate, high) if c is not None])
        shown = f"{low} <= {estimate} <= {high}" if estimate is not None else f"{low} <= {high}"
        problems += _failure(mart, "interval", shown, frame.filter(present & ~ordered),
                             [c for c in (low, estimate, high) if c is not None])
    for words, holds in mart.row_rules:
        problems += _failure(mart, "row_rule", words, frame.filter(~holds.fill_null(False)), [])
    if course_points is not None and mart.point_columns and "race_id" in frame.columns:
        known = course_points.select("race_id", "point_id").unique()
        for column in mart.point_columns:
            rows = frame.filter(pl.col(column).is_not_null()).select("race_id", pl.col(column).alias("point_id"), *[
                c for c in frame.columns if c not in ("race_id", "point_id", column)])  # fmt: skip
            off = rows.join(known, on=["race_id", "point_id"], how="anti").rename({"point_id": column})
            problems += _failure(mart, "point_on_course", column, off, [column])
    return problems


def check_marts(frames: dict[str, pl.DataFrame | None], course_points: pl.DataFrame | None = None) -> list[CheckFailure]:
    """Checks of every registered mart present in `frames` (a mart not given is not checked)."""
    problems = []
    for name, mart in MARTS.items():
        frame = frames.get(name)
        if frame is not None:
            problems += check_mart(mart, frame, course_points)
    return problems
