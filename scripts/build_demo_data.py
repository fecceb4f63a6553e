"""Rebuild data/ from ../shared/realdata: anonymised Boston results and race-day weather.

Maintainers run this (`make data`); its output is committed so a new user needs nothing
outside the repository. Names, cities, countries and places are dropped here, at the
reader: only bib, age, sex, the split times and the official time are kept.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from racecramp.data import data_dir

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "realdata"
KEEP = ["Bib", "Age", "M/F", "5K", "10K", "15K", "20K", "Half", "25K", "30K", "35K", "40K", "Official Time"]
YEARS = (2017, 2018)
WEATHER_YEARS = ("2017", "2018", "2019")


def anonymise_results(year: int) -> int:
    src = SHARED / "boston_results" / f"marathon_results_{year}.csv"
    out = data_dir() / f"boston-{year}" / "results.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(src, newline="", encoding="utf-8") as fin, open(out, "w", newline="", encoding="utf-8") as fout:
        reader = csv.DictReader(fin)
        writer = csv.DictWriter(fout, fieldnames=KEEP, lineterminator="\n")
        writer.writeheader()
        rows = 0
        for row in reader:
            writer.writerow({k: row[k] for k in KEEP})
            rows += 1
    return rows


def boston_weather() -> int:
    src = SHARED / "weather_visualcrossing" / "weather_hourly_flat.csv"
    out = data_dir() / "weather" / "boston_hourly.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(src, newline="", encoding="utf-8") as fin, open(out, "w", newline="", encoding="utf-8") as fout:
        reader = csv.DictReader(fin)
        writer = csv.DictWriter(fout, fieldnames=reader.fieldnames, lineterminator="\n")
        writer.writeheader()
        rows = 0
        for row in reader:
            if row["race"] == "Boston Marathon" and row["year"] in WEATHER_YEARS:
                writer.writerow(row)
                rows += 1
    marathons = json.loads((SHARED / "weather_visualcrossing" / "marathons.json").read_text())
    boston = [m for m in marathons if m["name"] == "Boston Marathon"]
    for m in boston:
        m["history"] = [h for h in m["history"] if str(h["year"]) in WEATHER_YEARS]
    (out.parent / "marathons.json").write_text(json.dumps(boston, indent=1) + "\n")
    return rows


if __name__ == "__main__":
    for year in YEARS:
        print(f"boston-{year}: {anonymise_results(year)} runners")
    print(f"weather: {boston_weather()} hourly rows")
