"""Vectorised parsing of race durations ("H:MM:SS", "MM:SS", "3725.4") to float seconds.

Results files write chip times in several ways, sometimes mixed in one column (early
splits as MM:SS, later ones as H:MM:SS), with markers such as "-" or "N/A" for a missing
time and non-breaking spaces left over from web pages. Everything here is a polars
expression so a 26k-row file parses in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import polars as pl

NBSP = "\u00a0"
DEFAULT_MISSING = ("", "-", "N/A", "NA", "DNF", "DNS")
TimeFormat = Literal["auto", "seconds"]
TIME_FORMATS: tuple[str, ...] = ("auto", "seconds")

# [H:]M:S with an optional fraction on the seconds, or plain seconds. ASCII digits only:
# Rust's \d also matches other scripts' digits, which a float cast would then reject.
_DURATION = r"^(?:(?:([0-9]+):)?([0-9]+):)?([0-9]+(?:\.[0-9]+)?)$"

EXPECTED_TEXT = {
    "auto": "a time like H:MM:SS or MM:SS",
    "seconds": "a number of seconds like 3725 or 3725.4",
}


def clean_text(raw: pl.Expr, missing: Iterable[str] = DEFAULT_MISSING) -> pl.Expr:
    """Cell text with non-breaking spaces and surrounding whitespace removed; null when the
    cell is a missing marker (compared case-insensitively, so "n/a" counts as "N/A")."""
    markers = sorted({m.replace(NBSP, " ").strip().lower() for m in missing} | {""})
    text = raw.cast(pl.String).str.replace_all(NBSP, " ", literal=True).str.strip_chars()
    return pl.when(text.str.to_lowercase().is_in(markers)).then(None).otherwise(text)


def duration_parts(text: pl.Expr) -> pl.Expr:
    """Struct of the hour, minute and second texts of cleaned text ("1", "2", "3"; null
    where absent). Materialise it as a column before seconds_from_parts: polars does not
    share one regex pass between the several references to it."""
    return text.str.extract_groups(_DURATION)


def seconds_from_parts(parts: pl.Expr, time_format: TimeFormat = "auto") -> pl.Expr:
    """Seconds from a duration_parts struct; null when missing or not a valid time.

    "auto" accepts H:MM:SS (minutes and seconds below 60), MM:SS (any minutes, seconds
    below 60), either with a decimal fraction on the seconds, and plain seconds.
    "seconds" accepts plain seconds only.
    """
    _check_format(time_format)
    hours = parts.struct.field("1").cast(pl.Float64)
    minutes = parts.struct.field("2").cast(pl.Float64)
    seconds = parts.struct.field("3").cast(pl.Float64)
    if time_format == "seconds":
        valid = minutes.is_null() & seconds.is_not_null()
    else:
        valid = (
            seconds.is_not_null()
            & (minutes.is_null() | (seconds < 60))
            & (hours.is_null() | (minutes < 60))
        )
    total = hours.fill_null(0.0) * 3600.0 + minutes.fill_null(0.0) * 60.0 + seconds
    return pl.when(valid).then(total).otherwise(None)


def duration_s(text: pl.Expr, time_format: TimeFormat = "auto") -> pl.Expr:
    """Seconds from cleaned text (see clean_text); null when missing or not a valid time.
    One expression for convenience; for many columns stage duration_parts first."""
    return seconds_from_parts(duration_parts(text), time_format)


def parse_durations(
    values: pl.Series,
    missing: Iterable[str] = DEFAULT_MISSING,
    time_format: TimeFormat = "auto",
) -> pl.DataFrame:
    """Columns `seconds` (Float64, null when missing or unparsable) and `unparsable`
    (true when the cell holds text that is neither a missing marker nor a valid time)."""
    _check_format(time_format)
    return (
        pl.DataFrame({"raw": values.cast(pl.String)})
        .select(clean_text(pl.col("raw"), missing).alias("text"))
        .with_columns(duration_parts(pl.col("text")).alias("parts"))
        .with_columns(seconds_from_parts(pl.col("parts"), time_format).alias("seconds"))
        .select("seconds", (pl.col("text").is_not_null() & pl.col("seconds").is_null()).alias("unparsable"))
    )


def format_hms(seconds: float) -> str:
    """H:MM:SS for messages (fractions shown to 0.1 s when present): 3725.4 -> '1:02:05.4'."""
    tenths = round(seconds * 10)
    whole, frac = divmod(tenths, 10)
    hours, rest = divmod(int(whole), 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{text}.{frac}" if frac else text


def hms_text(seconds: pl.Expr) -> pl.Expr:
    """Vectorised format_hms: seconds -> 'H:MM:SS' (with '.t' tenths when not whole)."""
    tenths = (seconds * 10).round(0).cast(pl.Int64)
    whole = tenths // 10
    frac = tenths % 10
    text = pl.format(
        "{}:{}:{}",
        whole // 3600,
        ((whole % 3600) // 60).cast(pl.String).str.zfill(2),
        (whole % 60).cast(pl.String).str.zfill(2),
    )
    return pl.when(frac > 0).then(pl.format("{}.{}", text, frac)).otherwise(text)


def _check_format(time_format: str) -> None:
    if time_format not in TIME_FORMATS:
        raise ValueError(f"time_format={time_format!r}: expected one of {', '.join(TIME_FORMATS)}")
