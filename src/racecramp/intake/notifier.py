"""After-append work on one background thread, in landing order (the Prefect event that wakes
the ingest, the race-closed event); its failures are logged and never fail a request."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable

from racecramp import landing

log = logging.getLogger(__name__)

OnAppended = Callable[[str, landing.Batch], Any]
NOTIFIER_STOP_TIMEOUT_S = 5.0


class Notifier:
    """Runs after-append work on one background thread, in landing order: on_appended(kind, batch)
    and other announcements of a landed batch (the race-closed event)."""

    def __init__(self, callback: OnAppended):
        self._callback = callback
        self._queue: queue.Queue[tuple[str, Callable[[], Any]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, kind: str, batch: landing.Batch) -> None:
        self.submit_call(f"on_appended({kind!r}, batch {batch.batch_id} at {batch.path})", lambda: self._callback(kind, batch))

    def submit_call(self, what: str, call: Callable[[], Any]) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="racecramp-intake-on-appended", daemon=True)
                self._thread.start()
        self._queue.put((what, call))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            what, call = item
            try:
                call()
            except Exception:
                log.exception("%s failed; the batch is landed and a later ingest run will merge it", what)

    def stop(self) -> None:
        with self._start_lock:
            thread = self._thread
        if thread is None:
            return
        self._queue.put(None)
        thread.join(NOTIFIER_STOP_TIMEOUT_S)
        if thread.is_alive():
            log.warning("on_appended callbacks still running after %.0f s at shutdown; not waiting longer", NOTIFIER_STOP_TIMEOUT_S)
