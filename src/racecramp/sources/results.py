"""Reader for race-results CSVs (one row per runner, split times across columns) through a
declarative mapping (racecramp.sources.mapping), plus the row checks the ingest runs.

Python's csv module reads the file (preambles, ragged rows, quoted commas); only the
mapped columns are kept, so names and home towns never enter a frame. Parsing is polars.
The reader does not judge rows beyond parsing: result_row_problems lists what is wrong
(splits going backwards, duplicate bibs, ...) for the ingest to quarantine.
"""

from __future__ import annotations

import csv
import operator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from racecramp.domain import BIB_PATTERN, MASKED
from racecramp.sources.mapping import MappingError, ResultsMapping, load_mapping
from racecramp.sources.timeparse import EXPECTED_TEXT, NBSP, clean_text, duration_parts, hms_text, seconds_from_parts

SPLIT_DTYPE = pl.Struct({"point_id": pl.String, "km": pl.Float64, "net_time_s": pl.Float64, "column": pl.String})
PARSE_ERROR_DTYPE = pl.Struct({"column": pl.String, "value": pl.String, "expected": pl.String})
ROWS_SCHEMA = pl.Schema(
    {
        "race_id": pl.String,
        "bib": pl.String,
        "sex": pl.String,
        "age": pl.Int32,
        "wave": pl.Int32,
        "declared_finish_s": pl.Float64,
        "finished": pl.Boolean,
        "official_time_s": pl.Float64,
        "start_delay_s": pl.Float64,
        "source_file": pl.String,
        "source_row": pl.Int64,
        "splits": pl.List(SPLIT_DTYPE),
        "parse_errors": pl.List(PARSE_ERROR_DTYPE),
    }
)
PROBLEMS_SCHEMA = pl.Schema(
    {"source_row": pl.Int64, "column": pl.String, "value": pl.String, "check": pl.String, "message": pl.String}
)
ROW_COLUMN = "<row>"  # parse_errors column for a row whose field count differs from the header

# Plausibility bounds for a marathon entrant's age on race day (not from the literature:
# most majors require 18+, a few admit 16; 10 and 100 only catch typos and swapped columns).
MIN_AGE = 10
MAX_AGE = 100


@dataclass(frozen=True)
class ResultsRead:
    """rows: one per data row of the file (ROWS_SCHEMA); ignored_columns: header columns
    neither mapped nor dropped (reported, not stored); dropped_columns: header columns the
    mapping drops (personal or unused data, never read)."""

    rows: pl.DataFrame
    ignored_columns: list[str]
    dropped_columns: list[str]


def read_results(path: Path, mapping: ResultsMapping | str | Path, race_id: str, race_date: date | None = None) -> ResultsRead:
    """Read a results CSV into one row per runner with nested splits and parse errors
    (race_date: needed when the mapping gives a birth year instead of an age)."""
    path = Path(path)
    if not isinstance(mapping, ResultsMapping):
        mapping = load_mapping(mapping)
    if "birth_year" in mapping.columns and race_date is None:
        raise MappingError(f"mapping {mapping.name}: maps birth_year, expected the race date to compute ages (import the race first)")
    header, cells, source_rows, field_counts = _read_cells(path, mapping)
    wanted = mapping.mapped_columns()
    raw = pl.DataFrame(
        {f"_c{j}": pl.Series(values, dtype=pl.String) for j, values in enumerate(cells)}
        | {"source_row": pl.Series(source_rows, dtype=pl.Int64), "_fields": pl.Series(field_counts, dtype=pl.Int64)},
    )
    rows = _typed_rows(raw, mapping, race_id, path.name, len(header), race_date)
    dropped = [h for h in header if h in mapping.drop]
    ignored = [h for h in header if h not in wanted and h not in mapping.drop]
    return ResultsRead(rows=rows, ignored_columns=ignored, dropped_columns=dropped)


def _read_cells(path: Path, mapping: ResultsMapping) -> tuple[list[str], list[list[str | None]], list[int], list[int]]:
    """Header, the mapped columns' cells (column-wise), each row's file line and field count.

    A row whose field count differs from the header's cannot be trusted column by column
    (a stray comma shifts a name into the age column), so none of its cells are read.
    """
    wanted = mapping.mapped_columns()
    try:
        with open(path, newline="", encoding=mapping.encoding) as fh:
            for _ in range(mapping.preamble_lines):
                fh.readline()
            reader = csv.reader(fh, delimiter=mapping.delimiter)
            first = next(reader, None)
            if first is None:
                raise MappingError(f"{path.name}: no header line after {mapping.preamble_lines} preamble lines")
            header = [h.replace(NBSP, " ").strip() for h in first]
            index = _header_index(path, header, wanted, mapping)
            pick = operator.itemgetter(*[index[c] for c in wanted])
            blank: tuple[None, ...] = (None,) * len(wanted)
            picked: list[tuple[str | None, ...]] = []
            source_rows: list[int] = []
            field_counts: list[int] = []
            width = len(header)
            line_before = reader.line_num
            for row in reader:
                start_line = mapping.preamble_lines + line_before + 1
                line_before = reader.line_num
                if not any(cell.strip() for cell in row):
                    continue
                values = pick(row) if len(row) == width else blank
                picked.append(values if len(wanted) > 1 else (values,))
                source_rows.append(start_line)
                field_counts.append(len(row))
    except UnicodeDecodeError as err:
        raise MappingError(f"{path.name}: not readable as {mapping.encoding} ({err}), expected the encoding named in mapping {mapping.name}") from err
    cells = [list(col) for col in zip(*picked)] if picked else [[] for _ in wanted]
    return header, cells, source_rows, field_counts


def _header_index(path: Path, header: list[str], wanted: list[str], mapping: ResultsMapping) -> dict[str, int]:
    absent = [c for c in wanted if c not in header]
    if absent:
        raise MappingError(f"{path.name}: columns {absent} named in mapping {mapping.name} are not in the header {header}")
    repeated = [c for c in wanted if header.count(c) > 1]
    if repeated:
        raise MappingError(f"{path.name}: columns {repeated} appear more than once in the header, expected once")
    return {c: header.index(c) for c in wanted}


def _typed_rows(raw: pl.DataFrame, mapping: ResultsMapping, race_id: str, source_file: str, header_fields: int,
                race_date: date | None = None) -> pl.DataFrame:
    """Typed rows (ROWS_SCHEMA) from raw text cells `_c0`, `_c1`, ... (mapping.mapped_columns()
    order), `source_row` and `_fields` (the row's field count).

    Built in stages (clean text, regex parts, seconds) so each regex runs once per column
    (polars does not share a sub-expression referenced several times), and the nested
    columns are built from a long frame with group_by, which is much faster in polars 2.1
    than concat_list over struct columns.
    """
    cols = mapping.columns
    wanted = mapping.mapped_columns()
    j = {name: i for i, name in enumerate(wanted)}

    def text(column: str) -> pl.Expr:
        return pl.col(f"_t{j[column]}")

    def shown(column: str) -> pl.Expr:
        return pl.col(f"_v{j[column]}")

    def seconds(column: str) -> pl.Expr:
        return pl.col(f"_s{j[column]}")

    finish_column = mapping.finish.column
    time_columns = [finish_column, *(s.column for s in mapping.splits)]
    time_columns += [cols[role] for role in ("declared_finish", "gun_time") if role in cols]
    dnf_markers = sorted({v.replace(NBSP, " ").strip().lower() for v in mapping.dnf.values})
    frame = (
        raw.with_row_index("_r")
        .with_columns(
            *(clean_text(pl.col(f"_c{i}"), mapping.missing).alias(f"_t{i}") for i in range(len(wanted))),
            # the cell as a person sees it, for error messages
            *(pl.col(f"_c{i}").str.replace_all(NBSP, " ", literal=True).str.strip_chars().alias(f"_v{i}") for i in range(len(wanted))),
        )
        .with_columns(*(duration_parts(text(c)).alias(f"_g{j[c]}") for c in time_columns))
        .with_columns(*(seconds_from_parts(pl.col(f"_g{j[c]}"), mapping.time_format).alias(f"_s{j[c]}") for c in time_columns))
        .with_columns(
            # a ragged row's cells were not read: it counts as not finished and is quarantined
            (~shown(mapping.dnf.column).str.to_lowercase().is_in(dnf_markers) & (pl.col("_fields") == header_fields)).alias("_finished"),
            shown(finish_column).str.to_lowercase().is_in(dnf_markers).alias("_official_is_dnf_marker"),
        )
    )

    # parse errors: (condition, column, expected) checked on rows with the header's width
    expected_time = EXPECTED_TEXT[mapping.time_format]
    checks: list[tuple[pl.Expr, str, str]] = [(text(cols["bib"]).is_null(), cols["bib"], "a bib number or code")]
    if "sex" in cols:
        sex_text = text(cols["sex"]) if mapping.sex_pattern is None else text(cols["sex"]).str.extract(mapping.sex_pattern, 1)
        sex = sex_text.replace_strict(mapping.sex_values, default=None, return_dtype=pl.String)
        expected_sex = f"one of {', '.join(mapping.sex_values)}"
        if mapping.sex_pattern is not None:
            expected_sex = f"text matching {mapping.sex_pattern} whose group is {expected_sex}"
        checks.append((text(cols["sex"]).is_not_null() & sex.is_null(), cols["sex"], expected_sex))
    else:
        sex = pl.lit(None, pl.String)

    def whole_number(role: str, expected: str) -> pl.Expr:
        if role not in cols:
            return pl.lit(None, pl.Int32)
        value = text(cols[role]).cast(pl.Int32, strict=False)
        checks.append((text(cols[role]).is_not_null() & value.is_null(), cols[role], expected))
        return value

    if "birth_year" in cols:
        year = text(cols["birth_year"]).cast(pl.Int32, strict=False)
        checks.append((text(cols["birth_year"]).is_not_null() & ~year.is_between(1000, 9999), cols["birth_year"],
                       "a four-digit year of birth"))
        # the age the runner turns in the race's year: the age on race day, or one year more
        # for a runner whose birthday falls after it (a birth year cannot tell the two apart)
        age = pl.when(year.is_between(1000, 9999)).then(pl.lit(race_date.year, pl.Int32) - year)
    else:
        age = whole_number("age", "a whole number of years")
    wave = whole_number("wave", "a whole number (the start wave)")
    for column in time_columns:
        unparsable = text(column).is_not_null() & seconds(column).is_null()
        if column == finish_column:
            unparsable = unparsable & ~pl.col("_official_is_dnf_marker")
        checks.append((unparsable, column, expected_time))
    declared = seconds(cols["declared_finish"]) if "declared_finish" in cols else pl.lit(None, pl.Float64)

    split_parts = []
    running: pl.Expr | None = None
    for spec in mapping.splits:
        if mapping.times == "per_segment":
            # a missing segment leaves every later running total unknown
            running = seconds(spec.column) if running is None else running + seconds(spec.column)
            net = running
        else:
            net = seconds(spec.column)
        split_parts.append(_split_part(frame, spec.point_id, spec.km, net, spec.column))
    if mapping.finish_is_segment:  # the net time is the sum of every segment, the last one included
        finish_net = seconds(finish_column) if running is None else running + seconds(finish_column)
    else:
        finish_net = seconds(finish_column)
    official = pl.when(pl.col("_finished")).then(finish_net)
    if "gun_time" in cols:
        delay = seconds(cols["gun_time"]) - official
        checks.append((pl.col("_finished") & (delay < 0), cols["gun_time"], f"a gun time no earlier than the chip time in {finish_column}"))
        start_delay = pl.when(delay >= 0).then(delay)
    else:
        start_delay = pl.lit(None, pl.Float64)
    split_parts.append(_split_part(frame, mapping.finish.point_id, mapping.finish.km, official, finish_column))

    ragged = pl.col("_fields") != header_fields
    error_parts = [
        frame.filter(ragged).select(
            "_r",
            pl.lit(ROW_COLUMN).alias("column"),
            pl.format("{} fields", pl.col("_fields")).alias("value"),
            pl.lit(f"{header_fields} fields as in the header").alias("expected"),
        )
    ]
    error_parts += [
        frame.filter(~ragged & condition).select("_r", pl.lit(column).alias("column"), shown(column).alias("value"), pl.lit(expected).alias("expected"))
        for condition, column, expected in checks
    ]

    splits_long = pl.concat(split_parts, how="vertical")
    if mapping.dnf.keep_splits == "last":
        splits_long = splits_long.filter(pl.col("_finished") | (pl.col("km") == pl.col("km").max().over("_r")))

    rows = frame.select(
        "_r",
        pl.lit(race_id, pl.String).alias("race_id"),
        bib_or_masked(text(cols["bib"])).alias("bib"),
        sex.alias("sex"),
        age.alias("age"),
        wave.alias("wave"),
        declared.alias("declared_finish_s"),
        pl.col("_finished").alias("finished"),
        official.alias("official_time_s"),
        start_delay.alias("start_delay_s"),
        pl.lit(source_file, pl.String).alias("source_file"),
        pl.col("source_row"),
    )
    rows = _attach_lists(rows, splits_long, "splits", SPLIT_DTYPE)
    rows = _attach_lists(rows, pl.concat(error_parts, how="vertical"), "parse_errors", PARSE_ERROR_DTYPE)
    return rows.drop("_r").cast(dict(ROWS_SCHEMA))


def _split_part(frame: pl.DataFrame, point_id: str, km: float, net_time_s: pl.Expr, column: str) -> pl.DataFrame:
    return frame.select(
        "_r",
        "_finished",
        pl.lit(point_id, pl.String).alias("point_id"),
        pl.lit(km, pl.Float64).alias("km"),
        net_time_s.cast(pl.Float64).alias("net_time_s"),
        pl.lit(column, pl.String).alias("column"),
    ).drop_nulls("net_time_s")


def _attach_lists(rows: pl.DataFrame, long: pl.DataFrame, name: str, dtype: pl.Struct) -> pl.DataFrame:
    """rows plus a column `name`: each row's entries of `long` (keyed by _r, in the order of
    `long` within a row) as a list of structs; an empty list when it has none."""
    fields = list(dtype.to_schema())
    nested = long.group_by("_r", maintain_order=True).agg(pl.struct(fields).alias(name))
    list_dtype = pl.List(dtype)
    return rows.join(nested, on="_r", how="left", maintain_order="left").with_columns(
        pl.col(name).cast(list_dtype).fill_null(pl.lit([], dtype=list_dtype))
    )


def bib_or_masked(bib: pl.Expr) -> pl.Expr:
    """A bib cell that is no bib code (a name typed into the bib column) is masked at the reader,
    so it never lands; the ingest then quarantines the row, naming only its length."""
    return pl.when(bib.is_null() | bib.str.contains(BIB_PATTERN)).then(bib).otherwise(
        pl.format(MASKED.replace("{n}", "{}"), bib.str.len_chars())
    )


def result_row_problems(rows: pl.DataFrame, course_km: float) -> pl.DataFrame:
    """One row per problem (PROBLEMS_SCHEMA) in rows read by read_results: parse errors,
    splits not increasing with distance, split km outside 0..course_km, repeated bibs
    within a file (later occurrences), age outside MIN_AGE..MAX_AGE, finishers without an
    official time. Messages read `row N of FILE: COLUMN=VALUE ..., expected ...`."""
    where = pl.format("row {} of {}: ", "source_row", "source_file")
    problems = [
        _parse_problems(rows, where),
        *_split_problems(rows, course_km),
        _duplicate_bib_problems(rows, where),
        rows.filter(pl.col("age").is_not_null() & ~pl.col("age").is_between(MIN_AGE, MAX_AGE)).select(
            "source_row",
            pl.lit("age").alias("column"),
            pl.col("age").cast(pl.String).alias("value"),
            pl.lit("age_range").alias("check"),
            pl.format("{}age={} is outside {}..{}, expected an age between {} and {}", where, "age",
                      pl.lit(MIN_AGE), pl.lit(MAX_AGE), pl.lit(MIN_AGE), pl.lit(MAX_AGE)).alias("message"),
        ),
        rows.filter(pl.col("finished") & pl.col("official_time_s").is_null()).select(
            "source_row",
            pl.lit("official_time_s").alias("column"),
            pl.lit("").alias("value"),
            pl.lit("finisher_has_time").alias("check"),
            pl.format("{}official_time_s=(empty) for a runner who finished, expected a net finish time", where).alias("message"),
        ),
    ]
    return (
        pl.concat([p.cast(dict(PROBLEMS_SCHEMA)) for p in problems], how="vertical")
        .with_row_index("_order")
        .sort("source_row", "_order")
        .drop("_order")
    )


def _parse_problems(rows: pl.DataFrame, where: pl.Expr) -> pl.DataFrame:
    errors = rows.select("source_file", "source_row", "parse_errors").explode("parse_errors").drop_nulls("parse_errors")
    errors = errors.with_columns(pl.col("parse_errors").struct.unnest())
    shown = pl.when(pl.col("value") == "").then(pl.lit("(empty)")).otherwise(pl.col("value"))
    return errors.select(
        "source_row",
        "column",
        "value",
        pl.when(pl.col("column") == ROW_COLUMN).then(pl.lit("field_count")).otherwise(pl.lit("parse")).alias("check"),
        pl.format("{}{}={}, expected {}", where, "column", shown, "expected").alias("message"),
    )


def _split_problems(rows: pl.DataFrame, course_km: float) -> list[pl.DataFrame]:
    """Splits that do not increase with km, and splits placed outside the course."""
    where = pl.format("row {} of {}: ", "source_row", "source_file")
    splits = rows.select("source_file", "source_row", "splits").explode("splits").drop_nulls("splits")
    splits = splits.with_columns(pl.col("splits").struct.unnest()).drop("splits")
    if "column" not in splits.columns:  # frames from other producers carry point_id only
        splits = splits.with_columns(pl.col("point_id").alias("column"))
    row_key = ["source_file", "source_row"]
    splits = splits.sort([*row_key, "km"], maintain_order=True).with_columns(
        hms_text(pl.col("net_time_s")).alias("_shown"),
        pl.col("column").shift(1).over(row_key).alias("_prev_column"),
        pl.col("net_time_s").shift(1).over(row_key).alias("_prev_s"),
    ).with_columns(hms_text(pl.col("_prev_s")).alias("_prev_shown"))
    backwards = splits.filter(pl.col("_prev_s").is_not_null() & (pl.col("net_time_s") <= pl.col("_prev_s"))).select(
        "source_row",
        "column",
        pl.col("_shown").alias("value"),
        pl.lit("splits_increase").alias("check"),
        pl.format(
            "{}{}={} is {} {}={}, expected splits to increase with distance",
            where, "column", "_shown",
            pl.when(pl.col("net_time_s") < pl.col("_prev_s")).then(pl.lit("earlier than")).otherwise(pl.lit("the same as")),
            "_prev_column", "_prev_shown",
        ).alias("message"),
    )
    outside = splits.filter((pl.col("km") < 0) | (pl.col("km") > course_km)).select(
        "source_row",
        "column",
        pl.col("km").cast(pl.String).alias("value"),
        pl.lit("km_in_course").alias("check"),
        pl.format(
            "{}{} at km={} is outside the course, expected a km between 0 and {} (the km comes from the mapping)",
            where, "column", "km", pl.lit(course_km),
        ).alias("message"),
    )
    return [backwards, outside]


def _duplicate_bib_problems(rows: pl.DataFrame, where: pl.Expr) -> pl.DataFrame:
    """Every occurrence of a bib after its first in the same file."""
    key = ["source_file", "bib"]
    return (
        rows.filter(pl.col("bib").is_not_null())
        .select("source_file", "source_row", "bib")
        .sort("source_row")
        .with_columns(pl.col("source_row").first().over(key).alias("_first_row"))
        .filter(pl.col("source_row") != pl.col("_first_row"))
        .select(
            "source_row",
            pl.lit("bib").alias("column"),
            pl.col("bib").alias("value"),
            pl.lit("unique_bib").alias("check"),
            pl.format("{}bib={} was already used in row {}, expected each bib once per file", where, "bib", "_first_row").alias("message"),
        )
    )
