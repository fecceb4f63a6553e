"""CSV files for spreadsheets: a text cell that a spreadsheet would run as a formula is neutralised.

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel,
LibreOffice and Google Sheets (OWASP "CSV injection"): such text cells get a leading `'`, which
spreadsheets show as text. Numbers are left alone. Every CSV racecramp writes goes through
`write_csv` (the report's consensus tables, `racecramp sql --csv`).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from racecramp.durable import atomic_write

FORMULA_START = r"^[=+\-@\t\r]"


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Text columns with a `'` before any cell a spreadsheet would take for a formula; nested
    columns (lists, structs) written as JSON text first."""
    fixes = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, (pl.List, pl.Struct, pl.Array)):
            text = pl.col(name).map_elements(_json, return_dtype=pl.String) if isinstance(dtype, (pl.List, pl.Array)) \
                else pl.col(name).struct.json_encode()
        elif dtype == pl.String or dtype == pl.Categorical:
            text = pl.col(name).cast(pl.String)
        else:
            continue
        fixes.append(pl.when(text.str.contains(FORMULA_START)).then(pl.lit("'") + text).otherwise(text).alias(name))
    return frame.with_columns(fixes) if fixes else frame


def _json(values: pl.Series) -> str:
    import json

    return json.dumps(values.to_list(), default=str)


def write_csv(frame: pl.DataFrame, path: Path) -> Path:
    """The frame as CSV, formulas neutralised, written atomically."""
    safe = neutralise_formulas(frame)
    return atomic_write(path, lambda tmp: safe.write_csv(tmp))


def csv_text(frame: pl.DataFrame) -> str:
    """The frame as CSV text, formulas neutralised."""
    return neutralise_formulas(frame).write_csv()
