"""Issue 13.6: 202 only when durable, 5xx only when not stored (or when a retry is safe and
the answer says so), a full landing disk shows in /v1/health, stale temporaries are cleaned at
start, new folders are synced into their parents. Full disks are real: a small tmpfs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from racecramp import landing
from racecramp.intake import create_app
from racecramp.landing.bulk import import_race
from racecramp.warehouse.ingest import ingest_pending
from racecramp.warehouse.sql import scalar
from racecramp.warehouse.writer import open_writer

from intake_kit import bearer, landed, report
from paths import DATA
from tiny_fs import fill, free, tiny_filesystem

TINY_BYTES = 256 * 1024


@pytest.fixture
def small_disk():
    """Mount a small tmpfs on a folder; skipped, saying why, where mounting is not allowed."""
    mounted = []

    def mount(directory: Path):
        context = tiny_filesystem(directory, TINY_BYTES)
        try:
            context.__enter__()
        except subprocess.CalledProcessError as exc:
            pytest.skip(f"cannot mount a tmpfs on {directory}: {exc.stderr.strip()}")
        mounted.append(context)
        return directory

    yield mount
    for context in reversed(mounted):
        context.__exit__(None, None, None)


def test_reports_landed_while_the_index_is_full_get_503_saying_a_retry_is_safe_and_count_once(intake_settings, small_disk):
    index_dir = small_disk(Path(intake_settings.data_dir) / "intake")
    first, second = report(bib="101"), report(bib="102")
    with TestClient(create_app(intake_settings)) as client:
        assert client.post("/v1/reports", json=first, headers=bearer("station:boston-2017:aid-05mi")).status_code == 202
        fill(index_dir)
        answer = client.post("/v1/reports", json=second, headers=bearer("station:boston-2017:aid-05mi"))
        assert answer.status_code == 503
        assert answer.headers["Retry-After"]
        detail = answer.json()["detail"]
        assert "were stored in landing batch" in detail and "retry with the same report_ids" in detail
        stored = [p for p in landed(intake_settings.landing_dir, "reports") if second["report_id"] in p.read_text()]
        assert len(stored) == 1  # the 503 did not hide a lost report: it is on disk
        free(index_dir)
        retry = client.post("/v1/reports", json=second, headers=bearer("station:boston-2017:aid-05mi"))
        assert retry.status_code == 202
        again = client.post("/v1/reports", json=second, headers=bearer("station:boston-2017:aid-05mi"))
        assert again.json() == retry.json()  # the index knows it now: the same answer, nothing landed
    assert len([p for p in landed(intake_settings.landing_dir, "reports") if second["report_id"] in p.read_text()]) == 2
    import_race(intake_settings, DATA / "races" / "boston-2017.toml", ingest=False)  # the course, for the ingest
    with open_writer(intake_settings.warehouse_path) as con:
        ingest_pending(con, intake_settings.landing_dir)
        counted = scalar(con, "SELECT count(*) FROM stg_cramp_reports WHERE CAST(report_id AS VARCHAR) = ?", [second["report_id"]])
    assert counted == 1


def test_a_full_landing_disk_fails_health_and_stores_nothing_until_there_is_room(intake_settings, small_disk):
    landing_dir = small_disk(Path(intake_settings.landing_dir))
    passings = {"passings": [{"race_id": "boston-2017", "bib": "8123", "point_id": "mat-10k", "net_time_s": 2900.0}]}
    with TestClient(create_app(intake_settings)) as client:
        assert client.get("/v1/health").status_code == 200
        fill(landing_dir)
        health = client.get("/v1/health")
        assert health.status_code == 503
        assert health.json()["landing_writable"] is False and health.json()["status"] == "failing"
        assert any("not writable" in problem for problem in health.json()["problems"])
        refused = client.post("/v1/passings", json=passings, headers=bearer("feed:timing:boston-2017"))
        assert refused.status_code == 503 and "not acknowledged" in refused.json()["detail"]
        assert landing.list_batches(landing_dir) == []
        assert [p.name for p in landing_dir.rglob("*.tmp")] == []  # a failed write leaves no temporary
        free(landing_dir)
        assert client.get("/v1/health").status_code == 200
        assert client.post("/v1/passings", json=passings, headers=bearer("feed:timing:boston-2017")).status_code == 202
    assert len(landing.list_batches(landing_dir)) == 1


def _dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(child.stdout)


def test_the_intake_removes_temporaries_of_dead_writers_at_start_and_keeps_a_live_writers(intake_settings):
    reports_dir = Path(intake_settings.landing_dir) / "reports"
    reports_dir.mkdir(parents=True)
    stale = reports_dir / f".20170417T150000.000000-abc.jsonl.{_dead_pid()}.tmp"
    stale.write_text('{"half a batch')
    live = reports_dir / f".20170417T150001.000000-def.jsonl.{os.getpid()}.tmp"
    live.write_text('{"being written')
    with TestClient(create_app(intake_settings)) as client:
        assert client.get("/v1/health").status_code == 200
    assert not stale.exists()
    assert live.exists()


def test_a_new_kind_folder_and_the_index_folder_are_synced_into_their_parents(intake_settings, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    with TestClient(create_app(intake_settings)) as client:
        assert client.post("/v1/reports", json=report(), headers=bearer("station:boston-2017:aid-05mi")).status_code == 202
    data_dir = Path(intake_settings.data_dir).resolve()
    assert str(data_dir / "landing") in synced  # the new landing/reports entry is durable
    assert str(data_dir) in synced  # so are landing/ and intake/ themselves
    assert (data_dir / "intake" / "idempotency.sqlite").exists()
