"""How the season flow splits editions into Dask tasks (racecramp.season.run.edition_chunks)."""

from __future__ import annotations

import pytest

from racecramp.season.run import edition_chunks

IDS = [f"synthetic-{i:04d}" for i in range(1, 101)]


def test_100_editions_on_2_worker_threads_become_10_tasks_of_10_in_order():
    # ceil(100 / (4 tasks per slot × 2 slots)) = 13 per task, capped at 10 → 10 tasks
    chunks = edition_chunks(IDS, slots=2)
    assert [len(c) for c in chunks] == [10] * 10
    assert [rid for c in chunks for rid in c] == IDS


def test_10_editions_on_2_worker_threads_still_keep_both_workers_busy():
    # ceil(10 / 8) = 2 per task → 5 tasks
    assert edition_chunks(IDS[:10], slots=2) == [IDS[0:2], IDS[2:4], IDS[4:6], IDS[6:8], IDS[8:10]]


def test_a_large_cluster_gets_one_edition_per_task():
    assert edition_chunks(IDS[:30], slots=16) == [[rid] for rid in IDS[:30]]


def test_uneven_split_differs_by_at_most_one_edition():
    # 23 editions, 1 slot: ceil(23 / 4) = 6 per task → 4 tasks of 6, 6, 6, 5
    assert [len(c) for c in edition_chunks(IDS[:23], slots=1)] == [6, 6, 6, 5]


def test_no_editions_give_no_tasks_and_zero_slots_is_refused():
    assert edition_chunks([], slots=2) == []
    with pytest.raises(ValueError, match="slots=0"):
        edition_chunks(IDS, slots=0)
