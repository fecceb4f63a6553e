"""The one snapshot reader: cached on the file's identity, normalised for the transforms."""

from __future__ import annotations

import uuid

import duckdb
import polars as pl

from racecramp.publish.snapshots import load_snapshot, read_snapshot, snapshot_path, write_snapshot

T = pl.Datetime("us", "UTC")


def test_a_republished_snapshot_is_read_again_and_an_unchanged_one_is_not(tmp_path):
    path = snapshot_path(tmp_path, "cramp_reports")
    assert load_snapshot(tmp_path, "cramp_reports") is None
    write_snapshot(pl.DataFrame({"n": [1]}), path)
    first = load_snapshot(tmp_path, "cramp_reports")
    assert load_snapshot(tmp_path, "cramp_reports") is first
    write_snapshot(pl.DataFrame({"n": [1, 2]}), path)
    assert load_snapshot(tmp_path, "cramp_reports")["n"].to_list() == [1, 2]


def test_duckdb_uuid_and_json_columns_come_back_as_text(tmp_path):
    report_id = uuid.uuid4()
    path = snapshot_path(tmp_path, "quarantine")
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT '{report_id}'::UUID AS report_id, '{{\"km\": -3}}'::JSON AS record, "
                    f"TIMESTAMPTZ '2017-04-17 16:40:00+00' AS landed_at_utc) TO '{path}' (FORMAT parquet)")
    frame = load_snapshot(tmp_path, "quarantine")
    assert frame["report_id"].to_list() == [str(report_id)]
    assert frame["record"].to_list() == ['{"km": -3}']
    assert frame.schema["landed_at_utc"] == T


def test_reading_a_table_never_published_names_the_file_and_the_command(tmp_path):
    import pytest

    with pytest.raises(FileNotFoundError, match="racecramp marts"):
        read_snapshot(tmp_path, "alerts")


def test_a_reader_never_sees_half_of_one_file_and_half_of_the_next_while_they_are_published(tmp_path):
    """The drain renames a new snapshot over the old one at any moment (every few seconds for
    passings); a read by path could take the footer of one file and the rows of the other."""
    import threading

    from racecramp.publish import snapshots

    path = snapshot_path(tmp_path, "passings")
    small = pl.DataFrame({"bib": ["1"], "net_time_s": [1.0]})
    large = pl.DataFrame({"bib": [str(i) for i in range(40_000)], "net_time_s": [float(i) for i in range(40_000)],
                          "point_id": ["mat-05k"] * 40_000})
    write_snapshot(small, path)
    stop = threading.Event()

    def publish() -> None:
        while not stop.is_set():
            for frame in (large, small):
                write_snapshot(frame, path)

    writer = threading.Thread(target=publish, daemon=True)
    writer.start()
    try:
        heights = set()
        for _ in range(400):
            snapshots._cache.clear()  # every read goes to the file
            frame = load_snapshot(tmp_path, "passings", ("bib", "net_time_s"))
            whole = snapshots.read_published(path)
            assert frame.height in (1, 40_000) and whole.height in (1, 40_000)
            heights.add(frame.height)
    finally:
        stop.set()
        writer.join()
    assert heights == {1, 40_000}, "the reads overlapped both files being published"
