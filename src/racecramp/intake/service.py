"""The intake's work behind each route: authorise, check shape and the course, land durably.

A 202 is sent only after `landing.append_records` has returned, i.e. after the batch file is
fsync'ed and renamed into place. Then the notifier announces the batch on its background
thread. A 5xx means "not stored", except one: reports that landed while the idempotency index
could not be written (a full disk) are answered 503 saying they were stored and that a
retry with the same report_ids is safe (the ingest merges reports by report_id). Records
are checked against the published course with the km/course rule the ingest uses too
(validation.course_rules), so both explain a bad km in the same words, and against
the token's race: a station or feed token posts for its own race only (403 otherwise).
"""

from __future__ import annotations

import io
import logging
import os
import re
import sqlite3
import threading
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import polars as pl
from fastapi import HTTPException
from fastapi.responses import Response
from pydantic import TypeAdapter

from racecramp import landing
from racecramp.config import Settings
from racecramp.intake import auth
from racecramp.durable import ensure_dir, remove_stale_temporaries, temporary_path
from racecramp.intake.idempotency import IdempotencyIndex, index_path, payload_sha256, request_sha256
from racecramp.intake.models import (
    ALERT_ACTION,
    PARTICIPANT_BATCH,
    PARTICIPANTS,
    PASSING_BATCH,
    PASSINGS,
    RACE_CLOSE,
    REPORT,
    REPORT_BATCH,
    REPORTS,
    SURVEY_COLUMNS,
    SURVEY_REQUIRED,
    WEATHER,
    WEATHER_BATCH,
    WEATHERS,
    AlertActionAccepted,
    BatchAccepted,
    Health,
    RaceCloseAccepted,
    ReportsAccepted,
    SurveyAccepted,
)
from racecramp.intake.notifier import Notifier, OnAppended
from racecramp.intake.problems import field_path, parse_json, problem, too_many, unprocessable, validate_body
from racecramp.intake.tokens import LiveTokens
from racecramp.landing.kinds import KINDS
from racecramp.publish.snapshots import load_snapshot
from racecramp.sources.tabular import muscle_list
from racecramp.validation.context import CourseNotPublished, CourseSnapshotError, ValidationContext, context_from_snapshots
from racecramp.validation.course_rules import course_rule_failures, fill_point_km, race_failures
from racecramp.validation.windows import window_failures

log = logging.getLogger(__name__)

# Enough problems to fix a feed; a batch of 10,000 bad records does not build a megabyte of errors.
MAX_PROBLEMS = 100
# /v1/health writes this much (and fsyncs it): a disk with less room than a typical batch is full.
HEALTH_PROBE_BYTES = 64 * 1024
RETRY_AFTER_S = "10"

try:
    VERSION = version("racecramp")
except PackageNotFoundError:  # running from a source tree that was never installed
    VERSION = "0+unknown"


class Intake:
    """Everything the endpoints share: settings, tokens, idempotency index, notifier."""

    def __init__(self, settings: Settings, on_appended: OnAppended | None):
        self.settings = settings
        self.landing_dir = Path(settings.landing_dir)
        self.tokens = LiveTokens(settings)  # re-reads the token register when it changes
        self._close_lock = threading.Lock()
        self.index_path = index_path(settings)
        self._index: IdempotencyIndex | None = None
        self._index_lock = threading.Lock()
        self.notifier = Notifier(on_appended) if on_appended is not None else None

    @property
    def index(self) -> IdempotencyIndex:
        """Opened on first use, so building the app (e.g. for its OpenAPI spec) touches no files."""
        with self._index_lock:
            if self._index is None:
                self._index = IdempotencyIndex(self.index_path)
            return self._index

    def start(self) -> list[Path]:
        """At start-up: remove temporaries that writers killed mid-write left in the landing zone."""
        removed = remove_stale_temporaries(self.landing_dir)
        if removed:
            log.warning("removed %d stale temporary file(s) from %s (writers that died mid-write)", len(removed), self.landing_dir)
        return removed

    def close(self) -> None:
        if self.notifier is not None:
            self.notifier.stop()
        with self._index_lock:
            if self._index is not None:
                self._index.close()
                self._index = None

    def published_context(self) -> ValidationContext | None:
        """The published course and race windows, or None before one is published."""
        try:
            return context_from_snapshots(self.settings.snapshot_dir, self.settings.window_rules)
        except CourseNotPublished:
            return None

    def context(self) -> ValidationContext:
        """The published course the records are checked against (503 until one is published)."""
        try:
            return context_from_snapshots(self.settings.snapshot_dir, self.settings.window_rules)
        except (CourseNotPublished, CourseSnapshotError) as exc:
            raise HTTPException(status_code=503, detail=str(exc), headers={"Retry-After": "30"}) from None

    def land(self, kind: str, records: list[dict[str, Any]], principal: auth.Principal, origin: str = "") -> landing.Batch:
        source = f"intake:{principal.name}" + (f":{origin}" if origin else "")
        try:
            return landing.append_records(self.landing_dir, kind, records, source=source)
        except OSError as exc:
            log.exception("could not land %d %s record(s) from %s in %s", len(records), kind, source, self.landing_dir)
            raise HTTPException(
                status_code=503,
                detail=f"could not write the {kind} batch to the landing zone ({exc}); it was not acknowledged, retry later",
                headers={"Retry-After": RETRY_AFTER_S},
            ) from None

    def index_unavailable(self, exc: Exception) -> HTTPException:
        """The index cannot be read or opened before anything landed: nothing was stored."""
        log.exception("idempotency index %s unavailable", self.index_path)
        return HTTPException(
            status_code=503,
            detail=f"the idempotency index {self.index_path.name} cannot be used ({exc}); nothing was stored, retry later",
            headers={"Retry-After": RETRY_AFTER_S},
        )

    def notify(self, kind: str, batch: landing.Batch) -> None:
        if self.notifier is not None:
            self.notifier.submit(kind, batch)

    # -- reports --

    def post_reports(self, principal: auth.Principal, body: bytes) -> Response:
        auth.require(principal, "reports")
        data = parse_json(body)
        if isinstance(data, dict) and "reports" in data:
            too_many("reports", data["reports"])
            reports = validate_body(REPORT_BATCH, data).reports
            locs: list[tuple[Any, ...]] = [("body", "reports", i) for i in range(len(reports))]
        elif isinstance(data, dict):
            reports = [validate_body(REPORT, data)]
            locs = [("body",)]
        else:
            raise unprocessable([problem(("body",), 'expected a JSON object: one report, or {"reports": [...]}', "model_type")])
        for report, loc in zip(reports, locs):
            auth.require_station(principal, report.race_id, report.point_id,
                                 field_path(loc + ("race_id",)), field_path(loc + ("point_id",)))
        records = REPORTS.dump_python(reports, mode="json")
        for rec in records:
            rec["entered_by"] = principal.station or principal.name  # who sent it, never a typed field
        ids, records, locs, digests = _unique_reports(records, locs)
        try:
            index = self.index
        except (sqlite3.Error, OSError) as exc:
            raise self.index_unavailable(exc) from None
        with index.locks.hold(ids):
            return self._admit_reports(principal, ids, records, locs, digests)

    def _admit_reports(
        self, principal: auth.Principal, ids: list[str], records: list[dict[str, Any]],
        locs: list[tuple[Any, ...]], digests: list[str],
    ) -> Response:
        try:
            known = self.index.known(ids)
        except (sqlite3.Error, OSError) as exc:
            raise self.index_unavailable(exc) from None
        conflicts = [rid for rid, digest in zip(ids, digests) if rid in known and known[rid][0] != digest]
        if conflicts:
            named = ", ".join(conflicts[:20]) + (f" and {len(conflicts) - 20} more" if len(conflicts) > 20 else "")
            raise HTTPException(
                status_code=409,
                detail=(
                    f"report_id {named} was already received with different contents "
                    f"(landing batch {known[conflicts[0]][1]}); a retry must resend the same report, "
                    "a new report needs a new report_id"
                ),
            )
        request_digest = request_sha256(zip(ids, digests))
        try:
            stored = self.index.answer(request_digest)
        except (sqlite3.Error, OSError) as exc:
            raise self.index_unavailable(exc) from None
        if stored is not None:
            status, text = stored
            return Response(text, status_code=status, media_type="application/json")
        fresh = [i for i, rid in enumerate(ids) if rid not in known]
        if not fresh:
            answer = ReportsAccepted(accepted=len(ids), report_ids=ids, batch_id=known[ids[0]][1], already_received=ids)
            text = answer.model_dump_json()
            try:
                self.index.remember([], request_digest, 202, text)
            except (sqlite3.Error, OSError):  # every report is stored and indexed already: the answer holds
                log.warning("could not remember the answer to a repeated request in %s", self.index_path, exc_info=True)
            return Response(text, status_code=202, media_type="application/json")
        context = self.context()
        # a report without km takes its station's km (marts.counting), as the bulk import does
        problems = course_problems(context, [records[i] for i in fresh], [locs[i] for i in fresh], fill_km=True)
        problems += window_problems(context, "reports", [records[i] for i in fresh], [locs[i] for i in fresh])
        if problems:
            raise unprocessable(problems)
        batch = self.land("reports", [records[i] for i in fresh], principal)
        try:
            answer = ReportsAccepted(
                accepted=len(ids), report_ids=ids, batch_id=batch.batch_id,
                already_received=[rid for rid in ids if rid in known],
            )
            text = answer.model_dump_json()
            self.index.remember([(ids[i], digests[i], batch.batch_id) for i in fresh], request_digest, 202, text)
        except (sqlite3.Error, OSError) as exc:
            raise self.stored_but_not_indexed(batch, [ids[i] for i in fresh], exc) from None
        finally:
            self.notify("reports", batch)
        return Response(text, status_code=202, media_type="application/json")

    def stored_but_not_indexed(self, batch: landing.Batch, report_ids: list[str], exc: Exception) -> HTTPException:
        """The reports landed (durably) but the index does not know them: a retry lands them
        again and the ingest, merging by report_id, counts each once. Ask for that retry, so the
        index learns them and later retries get their first answer."""
        log.error("reports %s landed in batch %s but the idempotency index %s could not be written: %s",
                  ", ".join(report_ids[:5]), batch.batch_id, self.index_path, exc)
        return HTTPException(
            status_code=503,
            detail=(
                f"{len(report_ids)} report(s) were stored in landing batch {batch.batch_id}, but the idempotency index "
                f"{self.index_path.name} could not be written ({exc}); retry with the same report_ids: that is safe, "
                "a report stored twice is counted once (the ingest merges reports by report_id)"
            ),
            headers={"Retry-After": RETRY_AFTER_S},
        )

    # -- passings, weather, alert actions --

    def _batch(self, principal: auth.Principal, body: bytes, kind: str, batch_adapter: TypeAdapter[Any],
               list_adapter: TypeAdapter[Any], race_only: bool = False) -> BatchAccepted:
        """{"<kind>": [...]} -> checked against the course record by record -> landed."""
        auth.require(principal, kind)
        data = parse_json(body)
        if not isinstance(data, dict):
            raise unprocessable([problem(("body",), f'expected a JSON object {{"{kind}": [...]}}', "model_type")])
        too_many(kind, data.get(kind))
        records = list_adapter.dump_python(getattr(validate_body(batch_adapter, data), kind), mode="json")
        locs = [("body", kind, i) for i in range(len(records))]
        for record, loc in zip(records, locs):
            auth.require_race(principal, record["race_id"], field_path(loc + ("race_id",)))
        context = self.context()
        problems = course_problems(context, records, locs, fill_km=not race_only, race_only=race_only)
        problems += window_problems(context, kind, records, locs)
        if problems:
            raise unprocessable(problems)
        batch = self.land(kind, records, principal)
        self.notify(kind, batch)
        return BatchAccepted(accepted=len(records), batch_id=batch.batch_id)

    def post_passings(self, principal: auth.Principal, body: bytes) -> BatchAccepted:
        return self._batch(principal, body, "passings", PASSING_BATCH, PASSINGS)

    def post_participants(self, principal: auth.Principal, body: bytes) -> BatchAccepted:
        return self._batch(principal, body, "participants", PARTICIPANT_BATCH, PARTICIPANTS, race_only=True)

    def post_weather(self, principal: auth.Principal, body: bytes) -> BatchAccepted:
        auth.require(principal, "weather")
        data = parse_json(body)
        if isinstance(data, dict) and "observations" in data:
            too_many("observations", data["observations"])
            observations = validate_body(WEATHER_BATCH, data).observations
            locs: list[tuple[Any, ...]] = [("body", "observations", i) for i in range(len(observations))]
        elif isinstance(data, dict):
            observations = [validate_body(WEATHER, data)]
            locs = [("body",)]
        else:
            raise unprocessable(
                [problem(("body",), 'expected a JSON object: one observation, or {"observations": [...]}', "model_type")]
            )
        records = WEATHERS.dump_python(observations, mode="json")
        for record, loc in zip(records, locs):
            if record["race_id"] is None:  # a race's weather feed collects for that race
                record["race_id"] = principal.race_id
            auth.require_race(principal, record["race_id"], field_path(loc + ("race_id",)))
        context = self.published_context()
        if context is not None:  # without a published course there is no window yet; the ingest checks again
            problems = window_problems(context, "weather", records, locs)
            if problems:
                raise unprocessable(problems)
        batch = self.land("weather", records, principal)
        self.notify("weather", batch)
        return BatchAccepted(accepted=len(records), batch_id=batch.batch_id)

    def post_alert_action(self, principal: auth.Principal, alert_id: str, body: bytes) -> AlertActionAccepted:
        auth.require(principal, "alert_actions")
        action = validate_body(ALERT_ACTION, parse_json(body))
        alerts = load_snapshot(self.settings.snapshot_dir, "alerts", ("alert_id",))
        if alerts is None or alert_id not in set(alerts["alert_id"].to_list()):
            published = "no alerts are published yet" if alerts is None else f"the published alerts ({alerts.height}) have no such id"
            raise HTTPException(status_code=404, detail=f"alert_id={alert_id!r}: {published}; expected an alert_id from the alerts snapshot")
        record = {"alert_id": alert_id, "action": action.action, "by": action.by or principal.name,
                  "at_utc": datetime.now(UTC).isoformat()}
        batch = self.land("alert_actions", [record], principal)
        self.notify("alert_actions", batch)
        return AlertActionAccepted(alert_id=alert_id, action=action.action, batch_id=batch.batch_id)

    # -- race closure --

    def post_race_close(self, principal: auth.Principal, race_id: str, body: bytes) -> RaceCloseAccepted:
        """Land a race_closures record, then announce racecramp.race.closed (the report deployment's trigger).

        Closing a closed race lands nothing and answers as the first closure did (its time and batch).
        """
        from racecramp.report.closure import closure_record, race_closed

        auth.require(principal, "race_closures")
        close = validate_body(RACE_CLOSE, parse_json(body))
        problems = course_problems(self.context(), [{"race_id": race_id}], [("path",)], race_only=True)
        if problems:
            raise unprocessable(problems)
        closed_by = close.by or principal.name
        with self._close_lock:
            first = self._first_closure(race_id)
            if first is not None:
                return first
            record = closure_record(race_id, closed_by)
            batch = self.land("race_closures", [record], principal)
        self.notify("race_closures", batch)
        if self.notifier is not None:
            self.notifier.submit_call(
                f"racecramp.race.closed for {race_id} (batch {batch.batch_id})",
                lambda: race_closed(race_id, record["closed_at_utc"], closed_by, batch.batch_id),
            )
        return RaceCloseAccepted(race_id=race_id, closed_at_utc=record["closed_at_utc"], batch_id=batch.batch_id)

    def _first_closure(self, race_id: str) -> RaceCloseAccepted | None:
        """The earliest closure of the race in the landing zone (by the intake or `racecramp close-race`), if any."""
        for batch in landing.list_batches(self.landing_dir, ["race_closures"]):
            records, _, _ = landing.read_batch(batch)
            rows = records.to_dicts() if isinstance(records, pl.DataFrame) else records
            for record in rows:
                if record.get("race_id") == race_id:
                    at = record["closed_at_utc"]
                    at = at.isoformat() if isinstance(at, datetime) else str(at)
                    return RaceCloseAccepted(race_id=race_id, closed_at_utc=at, batch_id=batch.batch_id)
        return None

    # -- survey --

    def post_survey(self, principal: auth.Principal, content: bytes, filename: str, race_id: str | None) -> SurveyAccepted:
        if race_id is not None:
            auth.require_race(principal, race_id, "race_id")
        frame = _read_survey_csv(content, race_id or principal.race_id)  # a race's survey feed uploads that race's survey
        known = [c for c in frame.columns if c in SURVEY_COLUMNS]
        ignored = [c for c in frame.columns if c not in SURVEY_COLUMNS]
        frame = frame.select(known).with_columns(
            pl.col(c).str.strip_chars().replace("", None) for c in known
        )
        records = frame.to_dicts()
        for record in records:
            if record.get("muscles"):
                record["muscles"] = muscle_list(record["muscles"], {})
        origin = re.sub(r"[^A-Za-z0-9._-]", "_", Path(filename or "upload.csv").name)[:100]
        locs = [("body", "file", f"row {i + 2}") for i in range(len(records))]
        for record, loc in zip(records, locs):
            if record["race_id"] is not None:
                auth.require_race(principal, record["race_id"], field_path(loc + ("race_id",)))
        problems = personal_problems("survey", records, locs)
        context = self.published_context()
        if context is not None:
            problems += window_problems(context, "survey", records, locs)
        if problems:
            raise unprocessable(problems)
        batch = self.land("survey", records, principal, origin=origin)
        self.notify("survey", batch)
        return SurveyAccepted(accepted=len(records), batch_id=batch.batch_id, ignored_columns=ignored)

    # -- health --

    def health(self) -> tuple[int, Health]:
        problems: list[str] = []
        writable = True
        try:
            probe_landing(self.landing_dir)
        except OSError as exc:
            writable = False
            problems.append(f"landing dir {self.landing_dir} is not writable: {exc}")
        published = True
        try:
            context_from_snapshots(self.settings.snapshot_dir)
        except (CourseNotPublished, CourseSnapshotError) as exc:
            published = False
            problems.append(str(exc))
        self.tokens.verifier()  # re-reads the token register if it changed
        if self.tokens.problem is not None:
            problems.append(f"{self.tokens.problem}; the tokens read before stay in force")
        status = "ok" if not problems else ("degraded" if writable else "failing")
        health = Health(
            status=status, version=VERSION, landing_dir=str(self.landing_dir), landing_writable=writable,
            course_published=published, problems=problems,
        )
        return (200 if writable else 503), health


def probe_landing(landing_dir: Path) -> None:
    """Write, fsync and delete HEALTH_PROBE_BYTES in the landing zone; raises OSError when it
    cannot (read-only, full: an empty file still fits on a full disk, these bytes do not)."""
    directory = ensure_dir(landing_dir)
    probe = temporary_path(directory / ".health-probe")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            block = b"\0" * HEALTH_PROBE_BYTES
            while block:  # a short write on a nearly full disk: the next one raises ENOSPC
                block = block[os.write(fd, block):]
            os.fsync(fd)
        finally:
            os.close(fd)
    finally:
        probe.unlink(missing_ok=True)


def _unique_reports(
    records: list[dict[str, Any]], locs: list[tuple[Any, ...]]
) -> tuple[list[str], list[dict[str, Any]], list[tuple[Any, ...]], list[str]]:
    """Drop exact repeats of a report within one request; the same id with other contents is 422."""
    seen: dict[str, str] = {}
    ids, kept, kept_locs, digests = [], [], [], []
    problems = []
    for rec, loc in zip(records, locs):
        rid, digest = rec["report_id"], payload_sha256(rec)
        if rid in seen:
            if seen[rid] != digest:
                problems.append(
                    problem(loc + ("report_id",), "appears twice in this request with different contents", "duplicate_report_id", rid)
                )
            continue
        seen[rid] = digest
        ids.append(rid)
        kept.append(rec)
        kept_locs.append(loc)
        digests.append(digest)
    if problems:
        raise unprocessable(problems)
    return ids, kept, kept_locs, digests


def course_problems(
    context: ValidationContext, records: list[dict[str, Any]], locs: list[tuple[Any, ...]],
    fill_km: bool = False, race_only: bool = False,
) -> list[dict[str, Any]]:
    """The km/course rule (validation.course_rules) as problem details, at most MAX_PROBLEMS.

    With `fill_km` a record without km takes its point's km (timing feeds may send the point only).
    """
    frame = pl.DataFrame(
        {
            "_row": list(range(len(records))),
            "race_id": [r.get("race_id") for r in records],
            "point_id": [r.get("point_id") for r in records],
            "km": [r.get("km") for r in records],
        },
        schema={"_row": pl.Int64, "race_id": pl.String, "point_id": pl.String, "km": pl.Float64},
    )
    if race_only:
        failures = race_failures(frame.select("_row", "race_id"), context)
    else:
        if fill_km:
            frame = fill_point_km(frame, context)
            for row, km in frame.filter(pl.col("km").is_not_null()).select("_row", "km").iter_rows():
                if records[row].get("km") is None:
                    records[row]["km"] = km
        failures = course_rule_failures(frame, context)
    return [
        problem(locs[row] + (column,), reason, check, records[row].get(column))
        for row, column, check, reason in failures.head(MAX_PROBLEMS).select("_row", "column", "check", "reason").iter_rows()
    ]


def personal_problems(kind: str, records: list[dict[str, Any]], locs: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Values of fields that may hold a name (landing.kinds: personal) that do not fit their code:
    refused before anything lands, and masked in the answer."""
    checks = [(c.name, re.compile(c.pattern)) for c in KINDS[kind].columns if c.personal and c.pattern and not c.assigned]
    found = []
    for record, loc in zip(records, locs):
        for name, pattern in checks:
            value = record.get(name)
            if value is not None and not pattern.fullmatch(str(value)):
                found.append(problem(loc + (name,), "does not fit", "string_pattern_mismatch", value))
    return found[:MAX_PROBLEMS]


def window_problems(context: ValidationContext, kind: str, records: list[dict[str, Any]], locs: list[tuple[Any, ...]],
                    received_utc: datetime | None = None) -> list[dict[str, Any]]:
    """Event times outside their race's window or ahead of the intake's clock (validation.windows)."""
    column = KINDS[kind].event_time
    if column is None or not records:
        return []
    frame = pl.DataFrame(
        {"_row": list(range(len(records))), "race_id": [r.get("race_id") for r in records],
         column: [None if r.get(column) is None else str(r.get(column)) for r in records]},
        schema={"_row": pl.Int64, "race_id": pl.String, column: pl.String},
    ).with_columns(pl.col(column).str.to_datetime(time_zone="UTC", time_unit="us", strict=False))
    failures = window_failures(frame, kind, context.windows, received_utc or datetime.now(UTC), context.rules)
    return [
        problem(locs[row] + (name,), reason, check, records[row].get(name))
        for row, name, check, reason in failures.head(MAX_PROBLEMS).select("_row", "column", "check", "reason").iter_rows()
    ]


def _read_survey_csv(content: bytes, race_id: str | None) -> pl.DataFrame:
    loc = ("body", "file")
    if not content.strip():
        raise unprocessable([problem(loc, "empty file: expected a CSV with a header row", "csv_invalid")])
    try:
        frame = pl.read_csv(io.BytesIO(content), infer_schema=False, encoding="utf8")
    except (pl.exceptions.PolarsError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise unprocessable([problem(loc, f"not a readable UTF-8 CSV: {first[:200]}", "csv_invalid")]) from None
    frame = frame.rename({c: c.strip() for c in frame.columns})
    if "race_id" not in frame.columns and race_id:
        frame = frame.with_columns(pl.lit(race_id).alias("race_id"))
    missing = [c for c in SURVEY_REQUIRED if c not in frame.columns]
    if missing:
        raise unprocessable(
            [
                problem(
                    loc,
                    f"CSV lacks required column(s) {', '.join(missing)}; the header must have {', '.join(SURVEY_REQUIRED)} "
                    f"(race_id may instead be sent as a form field) and may have {', '.join(SURVEY_COLUMNS[3:])}",
                    "csv_columns",
                )
            ]
        )
    if frame.height == 0:
        raise unprocessable([problem(loc, "the CSV has a header but no rows", "csv_empty")])
    return frame
