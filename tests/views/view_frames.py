"""Small hand-made frames for the view tests: reports and participants of one race."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

T = pl.Datetime("us", "UTC")
NOW = datetime(2017, 4, 17, 16, 40, tzinfo=UTC)
RACE = "boston-2017"


def reports(rows: list[tuple]) -> pl.DataFrame:
    """(report_id, bib, minutes before NOW, source)."""
    return pl.DataFrame(
        {
            "report_id": [r[0] for r in rows], "race_id": [RACE] * len(rows), "source": [r[3] for r in rows],
            "simulated": [False] * len(rows), "point_id": ["aid-20mi"] * len(rows), "km": [32.187] * len(rows),
            "bib": [r[1] for r in rows], "reported_at_utc": [NOW - timedelta(minutes=r[2]) for r in rows],
        },
        schema_overrides={"reported_at_utc": T, "bib": pl.String},
    )


def participants(n: int, finished: bool = False) -> pl.DataFrame:
    return pl.DataFrame({"race_id": [RACE] * n, "bib": [str(i) for i in range(n)], "finished": [finished] * n,
                         "simulated": [False] * n})


