"""The simple WBGT fallback against the Liljegren WBGT on real race days (docs/heat.md).

Reads a marathon-weather weather.json (Visual Crossing hours, e.g. ../shared/realdata/
weather_visualcrossing/weather.json), keeps each edition's racing hours (the hour of the
first start to RACING_HOURS after the mass start, local time) and prints, per race, how far
the fallback (`simple_wbgt_estimate`: BoM, overcast Stull under overcast) is from the
Liljegren WBGT that with_heat computes, and how often the two give the same ACSM flag.

    .venv/bin/python scripts/wbgt_fallback_error.py PATH/weather.json
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import polars as pl

from racecramp.marts.heat import simple_wbgt_estimate, wbgt_flag, with_heat
from racecramp.sources.weather import race_id_for, read_visualcrossing_json

# Racing hours: from the hour of the first start to 6 h after the mass start (a 5:30 marathon
# starting at the back of the last wave is still out then).
RACING_HOURS = 6


def racing_windows(path: Path) -> pl.DataFrame:
    """race_id, race, year, window start and end as local wall-clock times."""
    rows = []
    for race in json.loads(path.read_text(encoding="utf-8")):
        for edition in race["history"]:
            starts = [edition[k] for k in ("startTimeEliteWomen", "startTimeEliteMen", "startTimeMass") if edition.get(k)]
            if not starts:
                continue
            day = edition["date"]
            first = datetime.fromisoformat(f"{day} {min(starts)}").replace(minute=0)
            mass = datetime.fromisoformat(f"{day} {edition.get('startTimeMass') or max(starts)}")
            rows.append({"race_id": race_id_for(race["race"], edition["year"]), "race": race["race"], "year": edition["year"],
                         "from_local": first, "to_local": mass.replace(hour=mass.hour + RACING_HOURS)})
    return pl.DataFrame(rows)


def compared_hours(path: Path) -> pl.DataFrame:
    """Every racing hour with the Liljegren WBGT, the fallback and both flags."""
    weather = read_visualcrossing_json(path)
    zones = {m["name"]: m["timezone"] for m in json.loads(path.with_name("marathons.json").read_text(encoding="utf-8"))}
    windows = racing_windows(path).with_columns(pl.col("race").replace_strict(zones).alias("timezone"))
    heat = with_heat(weather.lazy()).with_columns(
        simple_wbgt_estimate("temp_c", "rh_pct", "conditions").alias("fallback_wbgt_c")
    ).with_columns(wbgt_flag("fallback_wbgt_c").alias("fallback_flag")).collect()
    parts = []
    for window in windows.iter_rows(named=True):
        local = heat.filter(pl.col("race_id") == window["race_id"]).with_columns(
            pl.col("observed_at_utc").dt.convert_time_zone(window["timezone"]).dt.replace_time_zone(None).alias("local")
        )
        parts.append(local.filter(pl.col("local").is_between(window["from_local"], window["to_local"]))
                     .with_columns(pl.lit(window["race"]).alias("race"), pl.lit(window["year"]).alias("year")))
    return pl.concat(parts, how="diagonal_relaxed")


def error_table(hours: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    diff = pl.col("fallback_wbgt_c") - pl.col("wbgt_c")
    return (
        hours.filter(pl.col("wbgt_method") == "liljegren")
        .group_by(by)
        .agg(
            pl.len().alias("hours"),
            pl.col("wbgt_c").min().round(1).alias("liljegren_min_c"),
            pl.col("wbgt_c").max().round(1).alias("liljegren_max_c"),
            diff.mean().round(2).alias("bias_c"),
            diff.abs().mean().round(2).alias("mae_c"),
            diff.abs().max().round(2).alias("max_abs_c"),
            (pl.col("fallback_flag") == pl.col("wbgt_flag")).mean().mul(100).round(0).alias("same_flag_pct"),
        )
        .sort(by)
    )


def markdown(frame: pl.DataFrame) -> str:
    head = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns) + "\n"
    return head + "\n".join("| " + " | ".join(str(v) for v in row) + " |" for row in frame.iter_rows()) + "\n"


def main(path: str) -> None:
    hours = compared_hours(Path(path))
    print(markdown(error_table(hours.with_columns(pl.lit("all races").alias("race")), ["race"])))
    print(markdown(error_table(hours, ["race"])))
    print(markdown(error_table(hours.filter(pl.col("race") == "Boston Marathon"), ["race", "year"])))


if __name__ == "__main__":
    main(sys.argv[1])
