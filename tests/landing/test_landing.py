import json
import os

import polars as pl
import pytest

from racecramp import landing


def test_appended_batch_is_on_disk_when_append_returns(tmp_path):
    batch = landing.append_records(tmp_path, "reports", [{"bib": "12"}], source="station:aid-20mi")
    assert batch.path.exists()
    line = json.loads(batch.path.read_text().splitlines()[0])
    assert line["record"] == {"bib": "12"} and line["_source"] == "station:aid-20mi"


def test_interrupted_write_is_not_a_batch(tmp_path):
    landing.append_records(tmp_path, "reports", [{"bib": "1"}], source="s")
    (tmp_path / "reports" / "20260101T000000.000000-deadbeef.jsonl.tmp").write_text('{"half')
    assert [b.kind for b in landing.list_batches(tmp_path)] == ["reports"]


def test_batches_are_listed_in_landing_order(tmp_path):
    first = landing.append_records(tmp_path, "passings", [{"n": 1}], source="s")
    second = landing.append_frame(tmp_path, "passings", pl.DataFrame({"n": [2]}), source="s")
    assert [b.batch_id for b in landing.list_batches(tmp_path)] == [first.batch_id, second.batch_id]


def test_the_merged_batches_are_skipped_and_the_count_sees_only_complete_batches(tmp_path):
    first = landing.append_records(tmp_path, "passings", [{"n": 1}], source="s")
    second = landing.append_records(tmp_path, "reports", [{"n": 2}], source="s")
    third = landing.append_frame(tmp_path, "passings", pl.DataFrame({"n": [3]}), source="s")
    (tmp_path / "passings" / f".{first.path.name}.123.tmp").write_text('{"half')  # a writer's temporary
    (tmp_path / "passings" / "notes.txt").write_text("not a batch")
    assert landing.count_batches(tmp_path) == 3
    listed = landing.list_batches(tmp_path, skip={second.batch_id})
    assert [(b.batch_id, b.kind, b.path) for b in listed] == [(first.batch_id, "passings", first.path),
                                                              (third.batch_id, "passings", third.path)]
    assert listed[0].landed_at_utc == first.landed_at_utc and listed[0].landed_at_utc.tzinfo is not None


def test_parquet_batch_keeps_source_and_rows(tmp_path):
    batch = landing.append_frame(tmp_path, "weather", pl.DataFrame({"temp_c": [20.5]}), source="vc.json")
    frame, source, _ = landing.read_batch(landing.list_batches(tmp_path)[0])
    assert source == "vc.json" and frame["temp_c"].to_list() == [20.5]
    assert batch.batch_id in batch.path.name


def test_unknown_kind_and_empty_batch_are_refused(tmp_path):
    with pytest.raises(ValueError, match="not one of"):
        landing.append_records(tmp_path, "gossip", [{"a": 1}], source="s")
    with pytest.raises(ValueError, match="empty"):
        landing.append_records(tmp_path, "reports", [], source="s")
    assert not any(os.scandir(tmp_path))
