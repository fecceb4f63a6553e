from datetime import datetime, timezone

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from racecramp.season.dataset import list_editions, partition_file, race_partition, read_edition, scan_table, write_edition

UTC = timezone.utc


def _participants(race_id: str, bibs: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "race_id": [race_id] * len(bibs),
            "bib": bibs,
            "official_time_s": [10_000.0 + i for i in range(len(bibs))],
            "wave_start_utc": [datetime(2017, 4, 17, 14, 0, tzinfo=UTC)] * len(bibs),
        },
        schema_overrides={"wave_start_utc": pl.Datetime("us", "UTC")},
    )


@pytest.mark.parametrize(
    ("race_id", "series", "edition"),
    [("boston-2017", "boston", "2017"), ("new-york-2019", "new-york", "2019"), ("demo", "demo", "_")],
)
def test_race_id_maps_to_series_and_edition_at_the_last_hyphen(race_id, series, edition):
    part = race_partition(race_id)
    assert (part.series, part.edition) == (series, edition)
    assert part.path == f"series={series}/edition={edition}"


def test_a_race_id_that_cannot_be_a_folder_is_refused_with_its_value():
    with pytest.raises(ValueError, match="race_id='a/b-2017'"):
        race_partition("a/b-2017")


def test_partitions_read_back_equal_what_was_written(tmp_path):
    root = str(tmp_path / "season")
    frames = {"boston-2017": _participants("boston-2017", ["1", "2", "3"]), "boston-2018": _participants("boston-2018", ["9"])}
    for race_id, frame in frames.items():
        write_edition(root, race_id, {"participants": frame})
    assert (tmp_path / "season" / "participants" / "series=boston" / "edition=2017" / "part-0.parquet").exists()
    for race_id, frame in frames.items():
        assert_frame_equal(read_edition(root, race_id, ["participants"])["participants"], frame)
    assert list_editions(root) == ["boston-2017", "boston-2018"]
    whole = scan_table(root, "participants").sort("race_id", "bib").collect()
    assert whole.select("race_id", "series", "edition").unique().sort("race_id").rows() == [
        ("boston-2017", "boston", "2017"), ("boston-2018", "boston", "2018")
    ]
    assert_frame_equal(whole.drop("series", "edition"), pl.concat(frames.values()).sort("race_id", "bib"))


def test_writing_an_edition_again_replaces_only_its_partition(tmp_path):
    root = str(tmp_path)
    write_edition(root, "boston-2017", {"participants": _participants("boston-2017", ["1", "2", "3"])})
    write_edition(root, "boston-2018", {"participants": _participants("boston-2018", ["7"])})
    write_edition(root, "boston-2017", {"participants": _participants("boston-2017", ["5"])})
    assert read_edition(root, "boston-2017", ["participants"])["participants"]["bib"].to_list() == ["5"]
    assert read_edition(root, "boston-2018", ["participants"])["participants"]["bib"].to_list() == ["7"]
    leftovers = [p.name for p in (tmp_path / "participants" / "series=boston" / "edition=2017").iterdir()]
    assert leftovers == ["part-0.parquet"]


def test_rows_of_another_race_are_refused_not_misfiled(tmp_path):
    mixed = pl.concat([_participants("boston-2017", ["1"]), _participants("boston-2018", ["2"])])
    with pytest.raises(ValueError, match="race_id='boston-2018'"):
        write_edition(str(tmp_path), "boston-2017", {"participants": mixed})
    assert not (tmp_path / "participants" / "series=boston" / "edition=2017" / "part-0.parquet").exists()


def test_a_missing_partition_names_the_race_and_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="boston-2017"):
        read_edition(str(tmp_path), "boston-2017", ["passings"])


@pytest.mark.parametrize("scheme", ["file", "memory"])
def test_fsspec_url_roots_work_like_folders(tmp_path, scheme):
    root = f"file://{tmp_path}/season" if scheme == "file" else f"memory://season-{tmp_path.name}"
    frame = _participants("boston-2017", ["1", "2"])
    write_edition(root, "boston-2017", {"participants": frame})
    assert partition_file(root, "participants", "boston-2017").endswith("participants/series=boston/edition=2017/part-0.parquet")
    assert_frame_equal(read_edition(root, "boston-2017", ["participants"])["participants"], frame)
    assert list_editions(root) == ["boston-2017"]
