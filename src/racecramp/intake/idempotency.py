"""Idempotency by report_id: a retried POST gets the same answer and lands nothing new.

The index is a small SQLite file (WAL, synchronous=FULL) beside the landing zone. It is
written *after* the landing append, so a crash between the two, or an index that cannot be
written (a full disk), can at worst land a report twice; the ingest merges reports by
report_id, so it is still counted once (intake.service answers such a request 503 saying so).

Requests touching the same report_ids are serialised by striped locks (one process; run
the intake with a single uvicorn worker); requests about different reports run in parallel.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from racecramp.durable import ensure_dir

if TYPE_CHECKING:
    from racecramp.config import Settings

SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    report_id TEXT PRIMARY KEY,
    payload_sha256 TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    received_at_utc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS responses (
    request_sha256 TEXT PRIMARY KEY,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at_utc TEXT NOT NULL
);
"""

_LOOKUP_CHUNK = 500  # well under SQLite's bound-parameter limit


def payload_sha256(record: dict[str, Any]) -> str:
    """Digest of a normalised record (keys sorted, UTC datetimes as ISO text)."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def request_sha256(pairs: Iterable[tuple[str, str]]) -> str:
    """Digest of a request = the set of (report_id, payload digest) it carries, order ignored."""
    text = "\n".join(f"{rid} {digest}" for rid, digest in sorted(set(pairs)))
    return hashlib.sha256(text.encode()).hexdigest()


class KeyLocks:
    """A fixed set of locks; a request holds the stripes of all its keys (in index order)."""

    def __init__(self, stripes: int = 64):
        self._locks = [threading.Lock() for _ in range(stripes)]

    @contextmanager
    def hold(self, keys: Iterable[str]) -> Iterator[None]:
        stripes = sorted({int(hashlib.blake2b(k.encode(), digest_size=4).hexdigest(), 16) % len(self._locks) for k in keys})
        held: list[int] = []
        try:
            for i in stripes:
                self._locks[i].acquire()
                held.append(i)
            yield
        finally:
            for i in reversed(held):
                self._locks[i].release()


def index_path(settings: Settings) -> Path:
    """<data_dir>/intake/idempotency.sqlite."""
    return Path(settings.data_dir) / "intake" / "idempotency.sqlite"


class IdempotencyIndex:
    """report_id -> (payload digest, batch); request digest -> the answer given."""

    def __init__(self, path: Path):
        self.path = Path(path)
        ensure_dir(self.path.parent)
        self._lock = threading.Lock()
        self._con = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10.0)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA synchronous=FULL")
        self._con.executescript(SCHEMA)
        self.locks = KeyLocks()

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def known(self, report_ids: list[str]) -> dict[str, tuple[str, str]]:
        """{report_id: (payload_sha256, batch_id)} for the ids already received."""
        found: dict[str, tuple[str, str]] = {}
        with self._lock:
            for start in range(0, len(report_ids), _LOOKUP_CHUNK):
                chunk = report_ids[start : start + _LOOKUP_CHUNK]
                marks = ",".join("?" * len(chunk))
                for rid, digest, batch_id in self._con.execute(
                    f"SELECT report_id, payload_sha256, batch_id FROM reports WHERE report_id IN ({marks})", chunk
                ):
                    found[rid] = (digest, batch_id)
        return found

    def answer(self, request_digest: str) -> tuple[int, str] | None:
        """The (status, body) given to an earlier identical request, if any."""
        with self._lock:
            row = self._con.execute(
                "SELECT status, body FROM responses WHERE request_sha256 = ?", [request_digest]
            ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def remember(
        self, entries: list[tuple[str, str, str]], request_digest: str, status: int, body: str
    ) -> None:
        """Store (report_id, payload digest, batch_id) rows and the answer, in one transaction."""
        now = datetime.now(UTC).isoformat()
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                self._con.executemany(
                    "INSERT OR IGNORE INTO reports VALUES (?, ?, ?, ?)",
                    [(rid, digest, batch_id, now) for rid, digest, batch_id in entries],
                )
                self._con.execute(
                    "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)", [request_digest, status, body, now]
                )
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise

    def count(self) -> int:
        with self._lock:
            return int(self._con.execute("SELECT count(*) FROM reports").fetchone()[0])
