"""The Rates page: a rate mart's rows for one race, keys then numerator, denominator and CI."""

from __future__ import annotations

import polars as pl

from racecramp.views.shared import for_race

RATE_TAIL = ("cases", "runners", "runner_hours", "rate_per_1000", "ci_low_per_1000", "ci_high_per_1000", "small_count",
             "denominator_kind", "rate_unit", "simulated")


def rate_units(table: pl.DataFrame) -> str:
    """What the table's rates are per ("per 1000 finishers", "per 1000 runner-hours"), as its rows say."""
    units = table["rate_unit"].unique(maintain_order=True).to_list() if "rate_unit" in table.columns and table.height else []
    return ", ".join(u for u in units if u) or "per 1000"


def rate_table(mart: pl.DataFrame | None, race_id: str, keys: tuple[str, ...],
               grouping: str | None = None) -> pl.DataFrame | None:
    """A rate mart's rows for one race (and one pace grouping), keys then numerator, denominator, CI."""
    frame = for_race(mart, race_id)
    if frame is None:
        return None
    if grouping is not None:
        frame = frame.filter(pl.col("grouping") == grouping)
    return frame.select([c for c in (*keys, *RATE_TAIL) if c in frame.columns])
