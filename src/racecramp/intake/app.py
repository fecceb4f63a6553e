"""The intake's HTTP routes (FastAPI), wired to the service that does the work.

Routes and OpenAPI here; the work behind each route in intake.service; problem details in
intake.problems; the body-size bound and the abuse limits (429) in intake.middleware; who a
token is in intake.auth and intake.tokens; after-append events in intake.notifier. 202
means the data is on disk (fsync'ed) in the landing zone.
"""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.datastructures import UploadFile

from racecramp.config import Settings
from racecramp.intake import auth
from racecramp.intake.middleware import AbuseLimits, BodySizeLimit, ClientRateLimit, client_address
from racecramp.intake.models import (
    MAX_BATCH_RECORDS,
    AlertActionAccepted,
    AlertActionIn,
    BatchAccepted,
    ErrorDetail,
    Health,
    ParticipantBatch,
    PassingBatch,
    RaceCloseAccepted,
    RaceCloseIn,
    ReportsAccepted,
    ReportsRequest,
    SurveyAccepted,
    WeatherRequest,
)
from racecramp.intake.notifier import OnAppended
from racecramp.intake.problems import clean, problem, pydantic_problems, unprocessable
from racecramp.intake.service import VERSION, Intake
from racecramp.intake.station_routes import station_router

log = logging.getLogger(__name__)

ALERT_ID_PATTERN = r"^[A-Za-z0-9._:@+-]{1,200}$"
RACE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,99}$"
# Request-body schemas the app documents itself (it reads bodies itself to bound their size).
REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    ReportsRequest, PassingBatch, WeatherRequest, AlertActionIn, ParticipantBatch, RaceCloseIn,
)

_bearer = HTTPBearer(auto_error=False, description="a station's, feed's or the command token")

_ERRORS = {
    401: {"model": ErrorDetail, "description": "no token, or a token that matches no principal"},
    403: {"model": ErrorDetail, "description": "this principal may not post this (e.g. a station posting for another station or race)"},
    413: {"model": ErrorDetail, "description": f"body over intake_max_body_bytes, or more than {MAX_BATCH_RECORDS} records"},
    422: {"model": ErrorDetail, "description": "malformed JSON or a field with a bad value; each problem names its field"},
    429: {"model": ErrorDetail, "description": "over an abuse limit (per client, per principal, failed authentications): retry after Retry-After s"},
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


def create_app(settings: Settings, on_appended: OnAppended | None = None, clock: Callable[[], float] = time.monotonic) -> FastAPI:
    """The intake ASGI app for `settings`; `on_appended(kind, batch)` runs after each landing;
    `clock` (seconds) paces the abuse limits."""
    intake = Intake(settings, on_appended)
    limits = AbuseLimits(settings, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        intake.start()
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
    app.state.limits = limits
    app.add_middleware(BodySizeLimit, max_bytes=settings.intake_max_body_bytes)
    app.add_middleware(ClientRateLimit, limit=limits.client)  # outermost: a flood is refused before any work

    @app.exception_handler(RequestValidationError)
    async def _validation_problem(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": pydantic_problems(list(exc.errors()), prefix=())})

    async def principal(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> auth.Principal:
        try:
            who = intake.tokens.principal(credentials.credentials if credentials else None)
        except auth.AuthError as exc:
            limits.failed_authentication(client_address(request.scope))
            raise HTTPException(status_code=401, detail=str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
        limits.authenticated(who.name)
        return who

    async def body(request: Request) -> bytes:
        return await request.body()

    def forbidden(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except auth.ForbiddenError as exc:
            raise HTTPException(status_code=403, detail=clean(str(exc))) from None

    @app.post(
        "/v1/reports", status_code=202, response_model=ReportsAccepted, tags=["intake"],
        responses={**_ERRORS, 409: {"model": ErrorDetail, "description": "report_id already received with different contents"}, **_COURSE_ERRORS},
        openapi_extra=_json_body(ReportsRequest),
    )
    def post_reports(who: auth.Principal = Depends(principal), raw: bytes = Depends(body)) -> Response:
        """Cramp reports: one report object, or {"reports": [...]}. Retrying with the same report_id is safe."""
        return forbidden(lambda: intake.post_reports(who, raw))

    @app.post(
        "/v1/passings", status_code=202, response_model=BatchAccepted, tags=["intake"],
        responses={**_ERRORS, **_COURSE_ERRORS}, openapi_extra=_json_body(PassingBatch),
    )
    def post_passings(who: auth.Principal = Depends(principal), raw: bytes = Depends(body)) -> BatchAccepted:
        """Timing passings, {"passings": [...]}; km may be omitted (the point's km is used)."""
        return forbidden(lambda: intake.post_passings(who, raw))

    @app.post(
        "/v1/participants", status_code=202, response_model=BatchAccepted, tags=["intake"],
        responses={**_ERRORS, **_COURSE_ERRORS}, openapi_extra=_json_body(ParticipantBatch),
    )
    def post_participants(who: auth.Principal = Depends(principal), raw: bytes = Depends(body)) -> BatchAccepted:
        """The start list, {"participants": [...]} (timing feed or command). Sending a runner again replaces the row."""
        return forbidden(lambda: intake.post_participants(who, raw))

    @app.post(
        "/v1/weather", status_code=202, response_model=BatchAccepted, tags=["intake"],
        responses=_ERRORS, openapi_extra=_json_body(WeatherRequest),
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
                raise unprocessable([problem(("body", "file"), "field required: upload the CSV as multipart field 'file'", "missing")])
            content = await upload.read()
            filename = upload.filename or "upload.csv"
            race_id = form.get("race_id")
        race_id = race_id if isinstance(race_id, str) and race_id.strip() else None
        return await run_in_threadpool(forbidden, lambda: intake.post_survey(who, content, filename, race_id))

    @app.post(
        "/v1/alerts/{alert_id}/actions", status_code=202, response_model=AlertActionAccepted, tags=["intake"],
        responses={**_ERRORS, 404: {"model": ErrorDetail, "description": "no such alert in the published alerts"}},
        openapi_extra=_json_body(AlertActionIn),
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
        responses={**_ERRORS, **_COURSE_ERRORS}, openapi_extra=_json_body(RaceCloseIn),
    )
    def post_race_close(
        race_id: str = PathParam(pattern=RACE_ID_PATTERN, description="the race's id, e.g. boston-2017"),
        who: auth.Principal = Depends(principal),
        raw: bytes = Depends(body),
    ) -> RaceCloseAccepted:
        """Close the race (command token only): {"by": "..."}; triggers the post-race report. Closing it again lands
        nothing and answers as the first time."""
        return forbidden(lambda: intake.post_race_close(who, race_id, raw))

    @app.get("/v1/health", response_model=Health, tags=["health"], responses={503: {"model": Health, "description": "landing zone not writable"}})
    def get_health() -> JSONResponse:
        """Is the landing zone writable, is a course published, which version runs."""
        status, health = intake.health()
        return JSONResponse(status_code=status, content=health.model_dump(mode="json"))

    app.include_router(station_router(intake, principal))

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
