"""The station app: the offline-first page aid-station volunteers use (/station/) and what it reads.

The page is plain files in `station_app/`, served from the intake's own origin so that it
posts to /v1/reports without CORS. `GET /v1/station` tells the page who a token is, which
station it reports for (from the published course), which race, and the choices of each
report field, so the page carries no vocabulary of its own. The service worker's cache name
is a digest of the shell files (`/station/shell.js`): any change to them makes browsers
install the new version.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import polars as pl
from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from racecramp.config import Settings
from racecramp.domain import MUSCLE_GROUPS, TREATMENTS, Disposition, PointKind, ReportSource, Severity
from racecramp.intake import auth
from racecramp.intake.models import ErrorDetail
from racecramp.marts.exposure import STATION_KINDS
from racecramp.publish.snapshots import load_snapshot

if TYPE_CHECKING:
    from racecramp.intake.service import Intake

APP_DIR = Path(__file__).with_name("station_app")
APP_PATH = "/station/"

# The app shell: every file the service worker caches, with its media type.
SHELL_FILES = {
    "index.html": "text/html; charset=utf-8",
    "styles.css": "text/css; charset=utf-8",
    "queue.js": "text/javascript; charset=utf-8",
    "scanner.js": "text/javascript; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "manifest.webmanifest": "application/manifest+json",
    "icon.svg": "image/svg+xml",
    "icon-192.png": "image/png",
    "icon-512.png": "image/png",
    "vendor/zxing-library-0.23.0.min.js": "text/javascript; charset=utf-8",
}
SERVICE_WORKER = "sw.js"
SHELL_MANIFEST = "shell.js"
# The course snapshot's columns that name a station for people (the validation context has no labels).
# A race whose published clock is this far behind the wall clock is a replay drill of a past race.
DRILL_LAG = timedelta(hours=1)
LABEL_COLUMNS = ("race_id", "point_id", "label")

# Only same-origin scripts, styles and requests; the camera preview is a local MediaStream.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    # The browser asks the server each time; the service worker serves its own cached copy offline.
    "Cache-Control": "no-cache",
}

# Words on the buttons where the stored value is not plain English; the same defaults as the
# Streamlit station page, so a report takes a few taps.
CHOICE_LABELS = {
    "stretch_massage": "stretch / massage", "oral_fluids": "oral fluids", "iv_fluids": "IV fluids",
    "returned_to_race": "back in race", "dnf": "DNF", "transported": "transported", "discharged": "discharged",
}
REPORT_FIELDS = (
    ("muscle_group", "Muscle", MUSCLE_GROUPS, "calf"),
    ("severity", "Severity", tuple(s.value for s in Severity), Severity.MILD.value),
    ("treatment", "Treatment", TREATMENTS, "stretch_massage"),
    ("disposition", "Disposition", tuple(d.value for d in Disposition), Disposition.RETURNED_TO_RACE.value),
)


class Choice(BaseModel):
    value: str
    label: str


class ReportField(BaseModel):
    """One field of the report form: its name in the report, its heading, choices and default."""

    name: str
    label: str
    choices: list[Choice]
    default: str


class Station(BaseModel):
    """An aid station or medical tent of the published course."""

    point_id: str
    label: str
    km: float
    kind: str
    source: str = Field(description="the report source a report from here carries (aid_station or finish_tent)")


class StationSession(BaseModel):
    """Who a token is and what its reports carry."""

    principal: str
    race_id: str
    station: Station | None = Field(description="the token's own station; null for command, which picks from stations")
    stations: list[Station] = Field(description="the stations this token may report for")
    fields: list[ReportField]
    drill_race_clock_utc: datetime | None = Field(
        default=None,
        description="set when the race is a replay drill (its race clock runs more than an hour behind the wall clock): "
                    "reports are stamped on this clock, advanced by the device's elapsed time, so they land in the replay",
    )


def race_for(settings: Settings, principal: auth.Principal) -> str:
    """The race a principal reports to: a station token's own race; the command token's is the configured race_id."""
    return principal.race_id or settings.race_id


def report_fields() -> list[ReportField]:
    return [
        ReportField(name=name, label=label, default=default,
                    choices=[Choice(value=v, label=CHOICE_LABELS.get(v, v)) for v in values])
        for name, label, values, default in REPORT_FIELDS
    ]


def race_stations(course: pl.DataFrame, labels: pl.DataFrame | None, race_id: str) -> list[Station]:
    """The race's aid stations and medical tents, by km; a point without a label is named by its id."""
    named = {}
    if labels is not None and set(LABEL_COLUMNS) <= set(labels.columns):
        named = {p: lab for r, p, lab in labels.select(LABEL_COLUMNS).iter_rows() if r == race_id and lab}
    points = course.filter((pl.col("race_id") == race_id) & pl.col("kind").is_in(STATION_KINDS)).sort("km", "point_id")
    return [
        Station(
            point_id=point_id, label=named.get(point_id, point_id), km=km, kind=kind,
            source=ReportSource.FINISH_TENT.value if kind == PointKind.MEDICAL_TENT.value else ReportSource.AID_STATION.value,
        )
        for point_id, kind, km in points.select("point_id", "kind", "km").iter_rows()
    ]


def drill_race_clock(runner_status: pl.DataFrame | None, race_id: str, wall_utc: datetime) -> datetime | None:
    """The race clock of a replay drill (the published race clock more than DRILL_LAG behind the
    wall clock), else None: live races stamp reports on the device's own clock."""
    if runner_status is None or runner_status.height == 0:
        return None
    clock = runner_status.filter(pl.col("race_id") == race_id)["race_clock_utc"].max()
    return clock if clock is not None and wall_utc - clock > DRILL_LAG else None


def station_session(principal: auth.Principal, race_id: str, stations: list[Station]) -> StationSession:
    """The answer of GET /v1/station for a station or command principal; ForbiddenError when it cannot report to `race_id`."""
    if not stations:
        raise auth.ForbiddenError(f"race {race_id!r} has no aid station or medical tent in the published course")
    own = None
    if not principal.is_command:
        matches = [s for s in stations if s.point_id == principal.station]
        if not matches:
            shown = ", ".join(s.point_id for s in stations[:8]) + (", …" if len(stations) > 8 else "")
            raise auth.ForbiddenError(
                f"this token belongs to station {principal.station!r} ({principal.name}), which is not an aid station "
                f"or medical tent of {race_id}'s published course (stations: {shown}); ask medical command for this station's card"
            )
        own = matches[0]
        stations = matches
    return StationSession(principal=principal.name, race_id=race_id, station=own, stations=stations, fields=report_fields())


def _shell_version(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()[:16]


def _read_shell() -> dict[str, bytes]:
    files = {name: (APP_DIR / name).read_bytes() for name in (*SHELL_FILES, SERVICE_WORKER)}
    shell = {"version": _shell_version(files), "files": [APP_PATH, *(APP_PATH + name for name in SHELL_FILES)]}
    files[SHELL_MANIFEST] = f"self.STATION_SHELL = {json.dumps(shell)};\n".encode()
    return files


def station_router(intake: Intake, principal: Callable[..., Any]) -> APIRouter:
    """Routes of the station app; `principal` is the intake's bearer-token dependency."""
    router = APIRouter()
    files = _read_shell()
    media_types = {**SHELL_FILES, SERVICE_WORKER: "text/javascript; charset=utf-8", SHELL_MANIFEST: "text/javascript; charset=utf-8"}

    @router.get(
        "/v1/station", response_model=StationSession, tags=["station app"],
        responses={
            401: {"model": ErrorDetail, "description": "no token, or a token that matches no principal"},
            403: {"model": ErrorDetail, "description": "not a station or command token, or its station is not on this race's course"},
            503: {"model": ErrorDetail, "description": "no course published yet"},
        },
    )
    def get_station(who: auth.Principal = Depends(principal)) -> StationSession:
        """Who this token is: its station (label, km, kind), the race, and the report form's choices."""
        try:
            auth.require(who, "reports")
            race_id = race_for(intake.settings, who)
            course_points = intake.context().course_points
            labels = load_snapshot(intake.settings.snapshot_dir, "course_points", LABEL_COLUMNS)
            answer = station_session(who, race_id, race_stations(course_points, labels, race_id))
            status = load_snapshot(intake.settings.snapshot_dir, "runner_status", ("race_id", "race_clock_utc"))
            return answer.model_copy(update={"drill_race_clock_utc": drill_race_clock(status, race_id, datetime.now(UTC))})
        except auth.ForbiddenError as exc:
            raise HTTPException(status_code=403, detail=str(exc)) from None

    @router.get("/station", include_in_schema=False)
    def app_without_slash() -> RedirectResponse:
        return RedirectResponse(APP_PATH, status_code=308)

    @router.get(APP_PATH, include_in_schema=False)
    def app_page() -> Response:
        return Response(files["index.html"], media_type=media_types["index.html"], headers=SECURITY_HEADERS)

    @router.get(APP_PATH + "{name:path}", include_in_schema=False)
    def app_file(name: str) -> Response:
        if name not in files:
            raise HTTPException(status_code=404, detail=f"/station/{name}: no such file in the station app")
        headers = dict(SECURITY_HEADERS)
        if name == SERVICE_WORKER:
            headers["Service-Worker-Allowed"] = APP_PATH
        return Response(files[name], media_type=media_types[name], headers=headers)

    return router
