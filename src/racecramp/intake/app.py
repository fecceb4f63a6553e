"""The HTTP receiver: authenticate, check shape (and the course), land durably, answer 202.

A 202 is sent only after `landing.append_records` has returned, i.e. after the batch file
is fsync'ed and renamed into place. Then `on_appended(kind, batch)` is called on a
background thread (the served Prefect setup passes a function that emits
`racecramp.landing.appended`); its failures are logged and never fail the request.
"""

from __future__ import annotations

import io
import json
import logging
import math
import queue
import re
import tempfile
import threading
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import polars as pl
from fastapi import Depends, FastAPI, HTTPException, Path as PathParam, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.json_schema import models_json_schema
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Receive, Scope, Send

from racecramp import landing
from racecramp.config import Settings
from racecramp.validation.course import POINT_KM_TOLERANCE, CourseIndex, CourseNotPublished, CourseSnapshotError, course_index
from racecramp.intake import auth
from racecramp.intake.idempotency import IdempotencyIndex, payload_sha256, request_sha256
from racecramp.intake.models import (
    ALERT_ACTION,
    MAX_BATCH_RECORDS,
    PARTICIPANT_BATCH,
    PARTICIPANTS,
    PASSING_BATCH,
    PASSINGS,
    RACE_CLOSE,
    REPORT,
    REPORT_BATCH,
    REPORTS,
    REQUEST_MODELS,
    SURVEY_COLUMNS,
    SURVEY_REQUIRED,
    WEATHER,
    WEATHER_BATCH,
    WEATHERS,
    AlertActionAccepted,
    BatchAccepted,
    ErrorDetail,
    RaceCloseAccepted,
    Health,
    ReportsAccepted,
    SurveyAccepted,
)

log = logging.getLogger(__name__)

OnAppended = Callable[[str, landing.Batch], Any]

ALERT_ID_PATTERN = r"^[A-Za-z0-9._:@+-]{1,200}$"
RACE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,99}$"
NOTIFIER_STOP_TIMEOUT_S = 5.0

try:
    VERSION = version("racecramp")
except PackageNotFoundError:  # running from a source tree that was never installed
    VERSION = "0+unknown"


# ---- request problems ----------------------------------------------------------------------


def _clean(text: str) -> str:
    """Text safe to put in a UTF-8 JSON answer (unpaired surrogates escaped)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('reports', 3, 'km') -> 'reports[3].km'; the body itself is 'body'."""
    path = ""
    for part in loc:
        if part == "body" and not path:
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + _clean(str(part))
    return path or "body"


def _show(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        text = str(value)
        return text if len(text) <= 40 else text[:37] + "..."
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value if len(value) <= 80 else value[:77] + "..."
        return _clean(repr(text))
    return None


def _problem(loc: tuple[Any, ...], msg: str, type_: str, value: Any = ...) -> dict[str, Any]:
    path = _field_path(loc)
    shown = None if value is ... else _show(value)
    text = f"{path}={shown}: {msg}" if shown is not None else f"{path}: {msg}"
    return {"type": type_, "loc": [p if isinstance(p, int) else _clean(str(p)) for p in loc], "field": path, "msg": _clean(text)}


def _pydantic_problems(errors: list[dict[str, Any]], prefix: tuple[Any, ...] = ("body",)) -> list[dict[str, Any]]:
    problems = []
    for err in errors:
        loc = prefix + tuple(err["loc"])
        if err["type"] == "missing":
            problems.append(_problem(loc, "field required", "missing"))
        else:
            problems.append(_problem(loc, err["msg"], err["type"], err.get("input", ...)))
    return problems


def _unprocessable(problems: list[dict[str, Any]]) -> HTTPException:
    return HTTPException(status_code=422, detail=problems)


def _validate(adapter: TypeAdapter[Any], data: Any) -> Any:
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise _unprocessable(_pydantic_problems(exc.errors(include_url=False))) from None


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is too large")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_LONE_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _parse_json(body: bytes) -> Any:
    if not body.strip():
        raise _unprocessable([_problem(("body",), "empty body: expected a JSON object", "json_invalid")])
    try:
        data = json.loads(body, parse_float=_finite_float, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise _unprocessable(
            [_problem(("body",), f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", "json_invalid")]
        ) from None
    except (ValueError, RecursionError) as exc:  # bad UTF-8, NaN/Infinity, absurd numbers or nesting
        raise _unprocessable([_problem(("body",), f"not valid JSON: {exc}", "json_invalid")]) from None
    if _LONE_SURROGATE_ESCAPE.search(body):
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise _unprocessable(
                [_problem(("body",), "text contains an unpaired UTF-16 surrogate escape (\\ud800-\\udfff)", "json_invalid")]
            ) from None
    return data


def _too_many(field: str, items: Any) -> None:
    if isinstance(items, list) and len(items) > MAX_BATCH_RECORDS:
        raise HTTPException(
            status_code=413,
            detail=f"{field}: {len(items)} records in one request; at most {MAX_BATCH_RECORDS} are accepted, split the batch",
        )


# ---- body size limit -----------------------------------------------------------------------


class BodySizeLimit:
    """413 for a body over `max_bytes`: by Content-Length up front, and while it streams."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._reply(send, 400, f"Content-Length {value[:40]!r} is not a number")
                    return
                if declared > self.max_bytes:
                    await self._reply(send, 413, self._message(declared))
                    return
        received = 0

        async def limited() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(status_code=413, detail=self._message(received, streamed=True))
            return message

        await self.app(scope, limited, send)

    def _message(self, size: int, streamed: bool = False) -> str:
        what = f"more than {size - 1}" if streamed else str(size)
        return f"request body of {what} bytes is over the limit of {self.max_bytes} bytes (intake_max_body_bytes)"

    @staticmethod
    async def _reply(send: Send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body})


# ---- after-append notifications ------------------------------------------------------------


class _Notifier:
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


# ---- the intake ----------------------------------------------------------------------------


class Intake:
    """Everything the endpoints share: settings, idempotency index, notifier."""

    def __init__(self, settings: Settings, on_appended: OnAppended | None):
        self.settings = settings
        self.landing_dir = Path(settings.landing_dir)
        self.verifier = auth.TokenVerifier(settings.token_hashes)
        self.index_path = Path(settings.data_dir) / "intake" / "idempotency.sqlite"
        self._index: IdempotencyIndex | None = None
        self._index_lock = threading.Lock()
        self.notifier = _Notifier(on_appended) if on_appended is not None else None

    @property
    def index(self) -> IdempotencyIndex:
        """Opened on first use, so building the app (e.g. for its OpenAPI spec) touches no files."""
        with self._index_lock:
            if self._index is None:
                self._index = IdempotencyIndex(self.index_path)
            return self._index

    def close(self) -> None:
        if self.notifier is not None:
            self.notifier.stop()
        with self._index_lock:
            if self._index is not None:
                self._index.close()
                self._index = None

    def course(self) -> CourseIndex:
        try:
            return course_index(self.settings)
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
                headers={"Retry-After": "10"},
            ) from None

    def notify(self, kind: str, batch: landing.Batch) -> None:
        if self.notifier is not None:
            self.notifier.submit(kind, batch)

    # -- reports --

    def post_reports(self, principal: auth.Principal, body: bytes) -> Response:
        auth.require(principal, "reports")
        data = _parse_json(body)
        if isinstance(data, dict) and "reports" in data:
            _too_many("reports", data["reports"])
            reports = _validate(REPORT_BATCH, data).reports
            locs: list[tuple[Any, ...]] = [("body", "reports", i) for i in range(len(reports))]
        elif isinstance(data, dict):
            reports = [_validate(REPORT, data)]
            locs = [("body",)]
        else:
            raise _unprocessable([_problem(("body",), 'expected a JSON object: one report, or {"reports": [...]}', "model_type")])
        for report, loc in zip(reports, locs):
            auth.require_station(principal, report.point_id, _field_path(loc + ("point_id",)))
        records = REPORTS.dump_python(reports, mode="json")
        for rec in records:
            if rec["entered_by"] is None:
                rec["entered_by"] = rec["point_id"]
        ids, records, locs, digests = _unique_reports(records, locs)
        with self.index.locks.hold(ids):
            return self._admit_reports(principal, ids, records, locs, digests)

    def _admit_reports(
        self, principal: auth.Principal, ids: list[str], records: list[dict[str, Any]],
        locs: list[tuple[Any, ...]], digests: list[str],
    ) -> Response:
        known = self.index.known(ids)
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
        stored = self.index.answer(request_digest)
        if stored is not None:
            status, text = stored
            return Response(text, status_code=status, media_type="application/json")
        fresh = [i for i, rid in enumerate(ids) if rid not in known]
        if not fresh:
            answer = ReportsAccepted(accepted=len(ids), report_ids=ids, batch_id=known[ids[0]][1], already_received=ids)
            text = answer.model_dump_json()
            self.index.remember([], request_digest, 202, text)
            return Response(text, status_code=202, media_type="application/json")
        course = self.course()
        problems = []
        for i in fresh:
            problems.extend(_course_problems(course, records[i], locs[i], km_required=True))
        if problems:
            raise _unprocessable(problems)
        batch = self.land("reports", [records[i] for i in fresh], principal)
        try:
            answer = ReportsAccepted(
                accepted=len(ids), report_ids=ids, batch_id=batch.batch_id,
                already_received=[rid for rid in ids if rid in known],
            )
            text = answer.model_dump_json()
            self.index.remember([(ids[i], digests[i], batch.batch_id) for i in fresh], request_digest, 202, text)
        finally:
            self.notify("reports", batch)
        return Response(text, status_code=202, media_type="application/json")

    # -- passings, weather, alert actions --

    def _batch(self, principal: auth.Principal, body: bytes, kind: str, batch_adapter: TypeAdapter[Any],
               list_adapter: TypeAdapter[Any], check: Callable[[CourseIndex, dict[str, Any], tuple[Any, ...]], list[dict[str, Any]]]) -> BatchAccepted:
        """{"<kind>": [...]} -> checked against the course record by record -> landed."""
        auth.require(principal, kind)
        data = _parse_json(body)
        if not isinstance(data, dict):
            raise _unprocessable([_problem(("body",), f'expected a JSON object {{"{kind}": [...]}}', "model_type")])
        _too_many(kind, data.get(kind))
        records = list_adapter.dump_python(getattr(_validate(batch_adapter, data), kind), mode="json")
        course = self.course()
        problems: list[dict[str, Any]] = []
        for i, rec in enumerate(records):
            problems.extend(check(course, rec, ("body", kind, i)))
            if len(problems) >= 100:  # enough to fix the feed; do not build a megabyte of errors
                break
        if problems:
            raise _unprocessable(problems)
        batch = self.land(kind, records, principal)
        self.notify(kind, batch)
        return BatchAccepted(accepted=len(records), batch_id=batch.batch_id)

    def post_passings(self, principal: auth.Principal, body: bytes) -> BatchAccepted:
        return self._batch(principal, body, "passings", PASSING_BATCH, PASSINGS,
                           lambda course, rec, loc: _course_problems(course, rec, loc, km_required=False))

    def post_participants(self, principal: auth.Principal, body: bytes) -> BatchAccepted:
        return self._batch(principal, body, "participants", PARTICIPANT_BATCH, PARTICIPANTS, _race_problems)

    def post_weather(self, principal: auth.Principal, body: bytes) -> BatchAccepted:
        auth.require(principal, "weather")
        data = _parse_json(body)
        if isinstance(data, dict) and "observations" in data:
            _too_many("observations", data["observations"])
            observations = _validate(WEATHER_BATCH, data).observations
        elif isinstance(data, dict):
            observations = [_validate(WEATHER, data)]
        else:
            raise _unprocessable(
                [_problem(("body",), 'expected a JSON object: one observation, or {"observations": [...]}', "model_type")]
            )
        records = WEATHERS.dump_python(observations, mode="json")
        batch = self.land("weather", records, principal)
        self.notify("weather", batch)
        return BatchAccepted(accepted=len(records), batch_id=batch.batch_id)

    def post_alert_action(self, principal: auth.Principal, alert_id: str, body: bytes) -> AlertActionAccepted:
        auth.require(principal, "alert_actions")
        action = _validate(ALERT_ACTION, _parse_json(body))
        record = {"alert_id": alert_id, "action": action.action, "by": action.by, "at_utc": datetime.now(UTC).isoformat()}
        batch = self.land("alert_actions", [record], principal)
        self.notify("alert_actions", batch)
        return AlertActionAccepted(alert_id=alert_id, action=action.action, batch_id=batch.batch_id)

    # -- race closure --

    def post_race_close(self, principal: auth.Principal, race_id: str, body: bytes) -> RaceCloseAccepted:
        """Land a race_closures record, then announce racecramp.race.closed (the report deployment's trigger)."""
        from racecramp.report.closure import closure_record, race_closed

        auth.require(principal, "race_closures")
        close = _validate(RACE_CLOSE, _parse_json(body))
        problems = _race_problems(self.course(), {"race_id": race_id}, ("path",))
        if problems:
            raise _unprocessable(problems)
        record = closure_record(race_id, close.by)
        batch = self.land("race_closures", [record], principal)
        self.notify("race_closures", batch)
        if self.notifier is not None:
            self.notifier.submit_call(
                f"racecramp.race.closed for {race_id} (batch {batch.batch_id})",
                lambda: race_closed(race_id, record["closed_at_utc"], close.by, batch.batch_id),
            )
        return RaceCloseAccepted(race_id=race_id, closed_at_utc=record["closed_at_utc"], batch_id=batch.batch_id)

    # -- survey --

    def post_survey(self, principal: auth.Principal, content: bytes, filename: str, race_id: str | None) -> SurveyAccepted:
        frame = _read_survey_csv(content, race_id)
        known = [c for c in frame.columns if c in SURVEY_COLUMNS]
        ignored = [c for c in frame.columns if c not in SURVEY_COLUMNS]
        frame = frame.select(known).with_columns(
            pl.col(c).str.strip_chars().replace("", None) for c in known
        )
        records = frame.to_dicts()
        origin = re.sub(r"[^A-Za-z0-9._-]", "_", Path(filename or "upload.csv").name)[:100]
        batch = self.land("survey", records, principal, origin=origin)
        self.notify("survey", batch)
        return SurveyAccepted(accepted=len(records), batch_id=batch.batch_id, ignored_columns=ignored)

    # -- health --

    def health(self) -> tuple[int, Health]:
        problems: list[str] = []
        writable = True
        try:
            self.landing_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.landing_dir, prefix=".health-", suffix=".probe"):
                pass
        except OSError as exc:
            writable = False
            problems.append(f"landing dir {self.landing_dir} is not writable: {exc}")
        published = True
        try:
            course_index(self.settings)
        except (CourseNotPublished, CourseSnapshotError) as exc:
            published = False
            problems.append(str(exc))
        status = "ok" if not problems else ("degraded" if writable else "failing")
        health = Health(
            status=status, version=VERSION, landing_dir=str(self.landing_dir), landing_writable=writable,
            course_published=published, problems=problems,
        )
        return (200 if writable else 503), health


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
                    _problem(loc + ("report_id",), "appears twice in this request with different contents", "duplicate_report_id", rid)
                )
            continue
        seen[rid] = digest
        ids.append(rid)
        kept.append(rec)
        kept_locs.append(loc)
        digests.append(digest)
    if problems:
        raise _unprocessable(problems)
    return ids, kept, kept_locs, digests


def _race_problems(course: CourseIndex, rec: dict[str, Any], loc: tuple[Any, ...]) -> list[dict[str, Any]]:
    """Is the record's race in the published course?"""
    if rec["race_id"] in course.distance_km:
        return []
    known = ", ".join(course.race_ids()) or "none"
    return [_problem(loc + ("race_id",), f"no such race in the published course (known: {known})", "race_unknown", rec["race_id"])]


def _course_problems(course: CourseIndex, rec: dict[str, Any], loc: tuple[Any, ...], km_required: bool) -> list[dict[str, Any]]:
    """Does a report or passing fit the published course? Fills a passing's missing km."""
    race_id, point_id, km = rec["race_id"], rec["point_id"], rec.get("km")
    distance = course.distance_km.get(race_id)
    if distance is None:
        return _race_problems(course, rec, loc)
    problems = []
    if km is not None and km > distance:
        problems.append(_problem(loc + ("km",), f"beyond the finish: expected 0 <= km <= {distance:g} for {race_id}", "km_within_course", km))
    point_km = course.point_km.get((race_id, point_id))
    if point_km is None:
        problems.append(
            _problem(loc + ("point_id",), f"not a point of {race_id}'s course (e.g. {', '.join(course.point_ids(race_id)[:5])})", "point_on_course", point_id)
        )
    elif km is None:
        if km_required:
            problems.append(_problem(loc + ("km",), "field required", "missing"))
        else:
            rec["km"] = point_km
    elif not problems and abs(km - point_km) > POINT_KM_TOLERANCE:
        problems.append(
            _problem(
                loc + ("km",), f"does not match {point_id} at km {point_km:g} (expected within {POINT_KM_TOLERANCE:g} km)",
                "km_matches_point", km,
            )
        )
    return problems


def _read_survey_csv(content: bytes, race_id: str | None) -> pl.DataFrame:
    loc = ("body", "file")
    if not content.strip():
        raise _unprocessable([_problem(loc, "empty file: expected a CSV with a header row", "csv_invalid")])
    try:
        frame = pl.read_csv(io.BytesIO(content), infer_schema=False, encoding="utf8")
    except (pl.exceptions.PolarsError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _unprocessable([_problem(loc, f"not a readable UTF-8 CSV: {first[:200]}", "csv_invalid")]) from None
    frame = frame.rename({c: c.strip() for c in frame.columns})
    if "race_id" not in frame.columns and race_id:
        frame = frame.with_columns(pl.lit(race_id).alias("race_id"))
    missing = [c for c in SURVEY_REQUIRED if c not in frame.columns]
    if missing:
        raise _unprocessable(
            [
                _problem(
                    loc,
                    f"CSV lacks required column(s) {', '.join(missing)}; the header must have {', '.join(SURVEY_REQUIRED)} "
                    f"(race_id may instead be sent as a form field) and may have {', '.join(SURVEY_COLUMNS[3:])}",
                    "csv_columns",
                )
            ]
        )
    if frame.height == 0:
        raise _unprocessable([_problem(loc, "the CSV has a header but no rows", "csv_empty")])
    return frame


# ---- FastAPI wiring ------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="a station's, feed's or the command token")

_ERRORS = {
    401: {"model": ErrorDetail, "description": "no token, or a token that matches no principal"},
    403: {"model": ErrorDetail, "description": "this principal may not post this (e.g. a station posting for another station)"},
    413: {"model": ErrorDetail, "description": f"body over intake_max_body_bytes, or more than {MAX_BATCH_RECORDS} records"},
    422: {"model": ErrorDetail, "description": "malformed JSON or a field with a bad value; each problem names its field"},
}
_COURSE_ERRORS = {503: {"model": ErrorDetail, "description": "no course published yet: run racecramp import course / ingest first"}}


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
        }
    }


_SURVEY_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "survey CSV, columns as survey_responses"},
                        "race_id": {"type": "string", "description": "race of every row, when the CSV has no race_id column"},
                    },
                }
            }
        },
    }
}


def create_app(settings: Settings, on_appended: OnAppended | None = None) -> FastAPI:
    """The intake ASGI app for `settings`; `on_appended(kind, batch)` runs after each landing."""
    intake = Intake(settings, on_appended)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        intake.close()

    app = FastAPI(
        title="racecramp intake",
        version=VERSION,
        description=(
            "Live intake for marathon medical teams: cramp reports from aid stations, timing passings, "
            "weather and the post-race survey. 202 means the data is on disk (fsync'ed) in the landing zone."
        ),
        lifespan=lifespan,
    )
    app.state.intake = intake
    app.add_middleware(BodySizeLimit, max_bytes=settings.intake_max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def _validation_problem(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": _pydantic_problems(list(exc.errors()), prefix=())})

    async def principal(credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> auth.Principal:
        try:
            return intake.verifier.principal(credentials.credentials if credentials else None)
        except auth.AuthError as exc:
            raise HTTPException(status_code=401, detail=str(exc), headers={"WWW-Authenticate": "Bearer"}) from None

    async def body(request: Request) -> bytes:
        return await request.body()

    def forbidden(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except auth.ForbiddenError as exc:
            raise HTTPException(status_code=403, detail=_clean(str(exc))) from None

    @app.post(
        "/v1/reports", status_code=202, response_model=ReportsAccepted, tags=["intake"],
        responses={**_ERRORS, 409: {"model": ErrorDetail, "description": "report_id already received with different contents"}, **_COURSE_ERRORS},
        openapi_extra=_json_body(REQUEST_MODELS[0]),
    )
    def post_reports(who: auth.Principal = Depends(principal), raw: bytes = Depends(body)) -> Response:
        """Cramp reports: one report object, or {"reports": [...]}. Retrying with the same report_id is safe."""
        return forbidden(lambda: intake.post_reports(who, raw))

    @app.post(
        "/v1/passings", status_code=202, response_model=BatchAccepted, tags=["intake"],
        responses={**_ERRORS, **_COURSE_ERRORS}, openapi_extra=_json_body(REQUEST_MODELS[1]),
    )
    def post_passings(who: auth.Principal = Depends(principal), raw: bytes = Depends(body)) -> BatchAccepted:
        """Timing passings, {"passings": [...]}; km may be omitted (the point's km is used)."""
        return forbidden(lambda: intake.post_passings(who, raw))

    @app.post(
        "/v1/participants", status_code=202, response_model=BatchAccepted, tags=["intake"],
        responses={**_ERRORS, **_COURSE_ERRORS}, openapi_extra=_json_body(REQUEST_MODELS[4]),
    )
    def post_participants(who: auth.Principal = Depends(principal), raw: bytes = Depends(body)) -> BatchAccepted:
        """The start list, {"participants": [...]} (timing feed or command). Sending a runner again replaces the row."""
        return forbidden(lambda: intake.post_participants(who, raw))

    @app.post(
        "/v1/weather", status_code=202, response_model=BatchAccepted, tags=["intake"],
        responses=_ERRORS, openapi_extra=_json_body(REQUEST_MODELS[2]),
    )
    def post_weather(who: auth.Principal = Depends(principal), raw: bytes = Depends(body)) -> BatchAccepted:
        """Weather observations: one object, or {"observations": [...]}."""
        return forbidden(lambda: intake.post_weather(who, raw))

    @app.post(
        "/v1/survey", status_code=202, response_model=SurveyAccepted, tags=["intake"],
        responses=_ERRORS, openapi_extra=_SURVEY_BODY,
    )
    async def post_survey(request: Request, who: auth.Principal = Depends(principal)) -> SurveyAccepted:
        """Post-race survey CSV (multipart field `file`); rows with bad values are quarantined by the ingest."""
        forbidden(lambda: auth.require(who, "survey"))
        async with request.form(max_files=1, max_fields=10) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise _unprocessable([_problem(("body", "file"), "field required: upload the CSV as multipart field 'file'", "missing")])
            content = await upload.read()
            filename = upload.filename or "upload.csv"
            race_id = form.get("race_id")
        race_id = race_id if isinstance(race_id, str) and race_id.strip() else None
        return await run_in_threadpool(intake.post_survey, who, content, filename, race_id)

    @app.post(
        "/v1/alerts/{alert_id}/actions", status_code=202, response_model=AlertActionAccepted, tags=["intake"],
        responses=_ERRORS, openapi_extra=_json_body(REQUEST_MODELS[3]),
    )
    def post_alert_action(
        alert_id: str = PathParam(pattern=ALERT_ID_PATTERN, description="the alert's id"),
        who: auth.Principal = Depends(principal),
        raw: bytes = Depends(body),
    ) -> AlertActionAccepted:
        """Acknowledge or resolve an alert (command token only): {"action": "acknowledge"|"resolve", "by": "..."}."""
        return forbidden(lambda: intake.post_alert_action(who, alert_id, raw))

    @app.post(
        "/v1/races/{race_id}/close", status_code=202, response_model=RaceCloseAccepted, tags=["intake"],
        responses={**_ERRORS, **_COURSE_ERRORS}, openapi_extra=_json_body(REQUEST_MODELS[5]),
    )
    def post_race_close(
        race_id: str = PathParam(pattern=RACE_ID_PATTERN, description="the race's id, e.g. boston-2017"),
        who: auth.Principal = Depends(principal),
        raw: bytes = Depends(body),
    ) -> RaceCloseAccepted:
        """Close the race (command token only): {"by": "..."}; triggers the post-race report."""
        return forbidden(lambda: intake.post_race_close(who, race_id, raw))

    @app.get("/v1/health", response_model=Health, tags=["health"], responses={503: {"model": Health, "description": "landing zone not writable"}})
    def get_health() -> JSONResponse:
        """Is the landing zone writable, is a course published, which version runs."""
        status, health = intake.health()
        return JSONResponse(status_code=status, content=health.model_dump(mode="json"))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            _, defs = models_json_schema([(m, "validation") for m in REQUEST_MODELS], ref_template="#/components/schemas/{model}")
            schema.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def run_intake(settings: Settings, on_appended: OnAppended | None = None) -> None:
    """Serve the intake with uvicorn on settings.intake_host:intake_port until SIGINT/SIGTERM."""
    import uvicorn

    app = create_app(settings, on_appended)
    log.info("racecramp intake on http://%s:%d (docs at /docs)", settings.intake_host, settings.intake_port)
    uvicorn.run(app, host=settings.intake_host, port=settings.intake_port, log_level="info", timeout_graceful_shutdown=10)
