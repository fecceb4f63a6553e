"""docs/warehouse.md, generated from the registries (landing.kinds, marts.registry).

`python -m racecramp.warehouse.docs > docs/warehouse.md` (`make docs`) writes it; a test fails
when the committed file differs from what the registries say, so docs, registries and the
migrations (checked against the registries by another test) cannot drift apart.
"""

from __future__ import annotations

from racecramp.columns import Column
from racecramp.domain import COMMAND, STATION, STATION_PREFIX
from racecramp.landing.kinds import KINDS, SYSTEM_TABLES
from racecramp.marts.registry import MARTS, STATE_INPUTS

INTRO = """\
# The warehouse: tables analysts query

<!-- Generated from racecramp.landing.kinds and racecramp.marts.registry by
`python -m racecramp.warehouse.docs > docs/warehouse.md` (make docs); edit the registries, not this file. -->

File: `$RACECRAMP_DATA_DIR/warehouse.duckdb` (default `./var/warehouse.duckdb`). Only the
ingest process opens it read-write; analysts use `racecramp sql`, which opens the read
replica `replica.duckdb` (views over the published Parquet snapshots), and dashboards read
the snapshots in `snapshots/` themselves.

Layers, as in dbt's jaffle_shop: `raw_records` (every landed record as it arrived, with its
batch id, append-only) → `stg_<kind>` (validated, merged by natural key) → the analyst views
named below (plain names over `stg_*`) → marts (computed by `racecramp.marts`, written by
`racecramp marts` and by every ingest). `racecramp marts --check` runs each mart's checks
(grain unique, not-null and accepted values as listed here, CI order, points on the course).

Times are UTC (`TIMESTAMPTZ`, polars `Datetime("us", "UTC")`); durations are seconds
(`_s`); distances are km (`km`); temperatures °C (`_c`). Bibs are short codes (some races
use letters). **No names are stored anywhere.**

Every table fed by the simulator carries `simulated BOOLEAN`; anything shown from a
simulated row is labelled simulated.
"""


def _principals(names: tuple[str, ...]) -> str:
    if not names:
        return "imported by the CLI only"
    words = {STATION: f"`{STATION_PREFIX}<race_id>:<point_id>` (its own race and point)", COMMAND: "`command`"}
    return "sent by " + ", ".join(words.get(n, f"`{n}:<race_id>`") for n in names)


def _table(columns: tuple[Column, ...]) -> list[str]:
    lines = ["| column | type | empty? | meaning | allowed |", "|---|---|---|---|---|"]
    for c in columns:
        meaning = c.description + (" (derived by the ingest)" if c.derived else "")
        lines.append(f"| {c.name} | {c.sql_type} | {'yes' if c.nullable else 'no'} | {meaning} | {c.constraint_words()} |")
    return lines


def warehouse_markdown() -> str:
    out = [INTRO, "## Landing kinds: staging tables and analyst views", ""]
    for kind in KINDS.values():
        if kind.staging_table is None:
            continue
        where = f"`{kind.staging_table}`" + (f", view and snapshot `{kind.view}`" if kind.view else " (no view)")
        out += [
            f"### {kind.view or kind.staging_table} — {kind.description}",
            "",
            f"Landing kind `{kind.name}`; table {where}; key ({', '.join(kind.natural_key)}); {_principals(kind.principals)}."
            + (f" Row rules: {', '.join(kind.rules)}." if kind.rules else ""),
            "",
            *_table(kind.columns),
            "",
        ]
    merged = [k for k in KINDS.values() if k.staging_table is None]
    for kind in merged:
        into = " and ".join(f"`{KINDS[k].staging_table}`" for k in kind.merges_into)
        out += [f"### landing kind {kind.name} — {kind.description}", "",
                f"No table of its own: merged into {into}; {_principals(kind.principals)}. Its landed rows:", "",
                *_table(kind.columns), ""]
    out += ["## Pipeline tables", ""]
    for table in SYSTEM_TABLES.values():
        published = "; published as a snapshot and view" if table.published else ""
        out += [f"### {table.name} — {table.description}", "", f"Written by the ingest{published}.", "",
                *_table(table.columns), ""]
    out += ["## Marts", "",
            "State inputs (not analyst tables): " + ", ".join(f"`{s}`" for s in STATE_INPUTS) + ".", ""]
    for mart in MARTS.values():
        scope = "per race, at its race clock" if mart.scope == "race" else "over every race"
        published = "" if mart.published else " Internal: feeds other marts, not published."
        intervals = (" Intervals checked: " + "; ".join(
            f"{lo} <= {est} <= {hi}" if est else f"{lo} <= {hi}" for lo, est, hi in mart.intervals) + "."
            if mart.intervals else "")  # fmt: skip
        points = f" On the course: {', '.join(mart.point_columns)}." if mart.point_columns else ""
        out += [
            f"### {mart.name} — {mart.description}",
            "",
            f"Grain ({', '.join(mart.grain)}); computed {scope} from {', '.join(f'`{i}`' for i in mart.inputs)}."
            + published + intervals + points,
            "",
            *_table(mart.columns),
            "",
        ]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(warehouse_markdown(), end="")
