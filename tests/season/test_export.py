"""Ingest writes the season dataset: each publish replaces the partitions of the races it touched."""

from __future__ import annotations

import os

import polars as pl

from racecramp.landing.bulk import import_race, import_results
from racecramp.season.dataset import list_editions, partition_file, read_edition
from racecramp.season.export import SOURCE_TABLES

from paths import DATA

HEADER = "Bib,Age,M/F,5K,10K,15K,20K,Half,25K,30K,35K,40K,Official Time\n"
ROWS = (
    "11,24,M,0:15:25,0:30:28,0:45:44,1:01:15,1:04:35,1:16:59,1:33:01,1:48:19,2:02:53,2:09:37\n"
    "2001,41,F,0:25:00,0:50:00,1:15:00,1:40:00,1:45:30,2:05:00,2:30:00,2:55:00,3:25:00,3:37:00\n"
)


def test_importing_results_writes_the_race_partition_with_what_the_warehouse_holds(boston_2017, tmp_path):
    csv = tmp_path / "results.csv"
    csv.write_text(HEADER + ROWS)
    import_results(boston_2017, csv, "boston-2017")
    root = boston_2017.season_root
    assert root == str(boston_2017.data_dir / "season")
    assert list_editions(root) == ["boston-2017"]
    frames = read_edition(root, "boston-2017")
    assert set(frames) == set(SOURCE_TABLES)
    assert sorted(frames["participants"]["bib"].to_list()) == ["11", "2001"]
    assert frames["participants"]["age"].sort().to_list() == [24, 41]
    assert frames["passings"].height == 20  # 9 splits + finish per runner
    assert frames["passings"]["passed_at_utc"].dtype == pl.Datetime("us", "UTC")
    assert frames["course_points"].height > 0 and frames["cramp_reports"].height == 0
    assert not any("name" in c.lower() for f in frames.values() for c in f.columns)


def test_a_publish_rewrites_only_the_races_it_touched(boston_2017, tmp_path):
    csv = tmp_path / "results.csv"
    csv.write_text(HEADER + ROWS)
    import_results(boston_2017, csv, "boston-2017")
    path_2017 = partition_file(boston_2017.season_root, "participants", "boston-2017")
    before = pl.read_parquet(path_2017)
    stamp = os.stat(path_2017).st_mtime_ns
    import_race(boston_2017, DATA / "races" / "boston-2018.toml")
    assert list_editions(boston_2017.season_root) == ["boston-2017", "boston-2018"]
    assert os.stat(path_2017).st_mtime_ns == stamp  # boston-2017 not rewritten
    assert pl.read_parquet(path_2017).equals(before)
    assert read_edition(boston_2017.season_root, "boston-2018", ["participants"])["participants"].height == 0
