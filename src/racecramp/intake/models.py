"""What the intake accepts over HTTP: pydantic models, one per landing kind, and its answers.

These check shape only (types, required fields, enumerations, km >= 0). Whether a race,
a point and a km fit the published course is checked in the app against the snapshot;
domain ranges (net times, temperatures, dew point <= air temperature ...) are the
ingest's pandera checks, which quarantine a record with its reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
    TypeAdapter,
)

from racecramp.domain import (
    BIB_PATTERN,
    CODE_PATTERN,
    IDENTITY_PATTERN,
    MUSCLE_GROUPS,
    SEXES,
    TREATMENTS,
    Disposition,
    ReportSource,
    Severity,
)
from racecramp.landing.kinds import KINDS

# The most records one request may carry; larger batches get 413 (split them).
MAX_BATCH_RECORDS = 10_000

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]*$"


def _number_to_text(value: Any) -> Any:
    """Bibs are text, but timing systems often send them as JSON numbers: 1234 -> '1234'."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+00:01 is before year 1 in UTC
        raise ValueError("outside the years a UTC time can be written in") from None


RaceId = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, min_length=1, max_length=64)]
PointId = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, min_length=1, max_length=64)]
Bib = Annotated[str, BeforeValidator(_number_to_text), StringConstraints(strip_whitespace=True, pattern=BIB_PATTERN)]
# who did something, when a logged-in user is named (else the principal is recorded)
Identity = Annotated[str, StringConstraints(pattern=IDENTITY_PATTERN)]
# a weather feed's name and place: codes, so no free text reaches the warehouse over HTTP
Code = Annotated[str, StringConstraints(pattern=CODE_PATTERN)]
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
Km = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Flag = Annotated[bool, Field(strict=True)]

MuscleGroup = Literal[MUSCLE_GROUPS]  # type: ignore[valid-type]
Treatment = Literal[TREATMENTS]  # type: ignore[valid-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


EXAMPLE_REPORT = {
    "report_id": "0b7e8a34-5d1f-4c2a-9f3e-2a6c1d9b4e10",
    "race_id": "boston-2017",
    "source": "aid_station",
    "point_id": "aid-20mi",
    "km": 32.187,
    "bib": "8123",
    "reported_at_utc": "2017-04-17T15:42:00Z",
    "muscle_group": "calf",
    "severity": "moderate",
    "treatment": "stretch_massage",
    "disposition": "returned_to_race",
}
EXAMPLE_PASSING = {"race_id": "boston-2017", "bib": "8123", "point_id": "mat-30k", "net_time_s": 9512.0}
EXAMPLE_WEATHER = {
    "source": "open-meteo", "location": "Boston", "observed_at_utc": "2017-04-17T15:00:00Z",
    "temp_c": 23.9, "dew_point_c": 5.0, "wind_m_s": 4.5,
}


class ReportIn(_Strict):
    """One cramp report from an aid station or the finish tent (cramp_reports)."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_REPORT]})

    report_id: UUID = Field(description="chosen by the client; a retry reuses it")
    race_id: RaceId
    source: ReportSource
    point_id: PointId | None = Field(default=None, description="the station that saw the runner (a station token "
                                     "may post only its own)")
    km: Km | None = Field(default=None, description="where the cramp was reported; within 0.5 km of the point's km; "
                          "omitted: the station's km, with no station either it counts as `km unknown`")
    bib: Bib | None = Field(default=None, description="null when the runner gave no bib")
    reported_at_utc: UtcDatetime = Field(description="ISO 8601 with a time zone offset")
    muscle_group: MuscleGroup
    severity: Severity
    treatment: Treatment
    disposition: Disposition
    supersedes_report_id: UUID | None = Field(default=None, description="a correction: the report_id this one replaces")
    simulated: Flag = False


class ReportBatch(_Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reports": [EXAMPLE_REPORT]}]})

    reports: list[ReportIn] = Field(min_length=1, max_length=MAX_BATCH_RECORDS)


class ReportsRequest(RootModel[ReportIn | ReportBatch]):
    """One report object, or {"reports": [...]}."""


class PassingIn(_Strict):
    """A runner crossing a timing point (passings)."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_PASSING]})

    race_id: RaceId
    bib: Bib
    point_id: PointId
    km: Km | None = Field(default=None, description="the point's km; filled from the course when omitted")
    net_time_s: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
    passed_at_utc: UtcDatetime | None = Field(default=None, description="wall clock; derived from the wave start when omitted")
    simulated: Flag = False


class PassingBatch(_Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"passings": [EXAMPLE_PASSING]}]})

    passings: list[PassingIn] = Field(min_length=1, max_length=MAX_BATCH_RECORDS)


EXAMPLE_PARTICIPANT = {"race_id": "boston-2017", "bib": "8123", "sex": "F", "age": 34, "wave": 2, "declared_finish_s": 12600.0}


class ParticipantIn(_Strict):
    """A runner on the start list (participants); the roster is sent before the start."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_PARTICIPANT]})

    race_id: RaceId
    bib: Bib
    sex: Literal[SEXES] | None = None  # type: ignore[valid-type]
    age: Annotated[int, Field(strict=True, ge=10, le=100)] | None = None
    wave: Annotated[int, Field(strict=True, ge=0)] | None = Field(default=None, description="derived from the race's bib ranges when omitted")
    declared_finish_s: Annotated[float, Field(strict=True, ge=3600, le=12 * 3600, allow_inf_nan=False)] | None = Field(
        default=None, description="the runner's declared (target) finish time"
    )
    declared_is_synthetic: Flag = Field(default=False, description="true when declared_finish_s was synthesised, not declared")
    finished: Flag = Field(default=False, description="false on a start list; a results feed may send true")
    official_time_s: Annotated[float, Field(strict=True, ge=3600, le=12 * 3600, allow_inf_nan=False)] | None = None
    simulated: Flag = False


class ParticipantBatch(_Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"participants": [EXAMPLE_PARTICIPANT]}]})

    participants: list[ParticipantIn] = Field(min_length=1, max_length=MAX_BATCH_RECORDS)


class WeatherIn(_Strict):
    """One weather observation (weather_observations)."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_WEATHER]})

    source: Code = Field(description="the feed, e.g. open-meteo")
    location: Code = Field(description="its station or place as a code, e.g. KBOS or boston-finish")
    observed_at_utc: UtcDatetime
    temp_c: Number
    dew_point_c: Number | None = None
    rh_pct: Number | None = None
    wind_m_s: Number | None = None
    conditions: Annotated[str, StringConstraints(max_length=256)] | None = None
    race_id: RaceId | None = None
    interpolated: Flag = False
    simulated: Flag = False
    # the Liljegren WBGT's inputs, where the feed has them (docs/heat.md)
    latitude_deg: Annotated[Number, Field(ge=-90, le=90)] | None = None
    longitude_deg: Annotated[Number, Field(ge=-180, le=180)] | None = None
    shortwave_w_m2: Annotated[Number, Field(ge=0, le=1500)] | None = None
    cloud_cover_pct: Annotated[Number, Field(ge=0, le=100)] | None = None
    pressure_hpa: Annotated[Number, Field(ge=300, le=1100)] | None = None


class WeatherBatch(_Strict):
    observations: list[WeatherIn] = Field(min_length=1, max_length=MAX_BATCH_RECORDS)


class WeatherRequest(RootModel[WeatherIn | WeatherBatch]):
    """One observation object, or {"observations": [...]}."""


class AlertActionIn(_Strict):
    """The medical director acknowledges or resolves an alert."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"action": "acknowledge", "by": "dr-lee"}]})

    action: Literal["acknowledge", "resolve"]
    by: Identity | None = Field(default=None, description="the logged-in user (e-mail); the principal when absent")


# ---- answers ------------------------------------------------------------------------------


class ReportsAccepted(BaseModel):
    accepted: int = Field(description="reports in the request, all durably landed")
    report_ids: list[UUID]
    batch_id: str = Field(description="landing batch holding this request's new reports")
    already_received: list[UUID] = Field(
        default_factory=list, description="report_ids landed by an earlier request (not landed again)"
    )


class BatchAccepted(BaseModel):
    accepted: int
    batch_id: str


class SurveyAccepted(BaseModel):
    accepted: int = Field(description="CSV rows landed; rows with bad values are quarantined by the ingest")
    batch_id: str
    ignored_columns: list[str] = Field(description="columns not in survey_responses; not stored")


class RaceCloseIn(_Strict):
    """The medical director closes the race: the post-race report is written next."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"by": "dr-lee"}]})

    by: Identity | None = Field(default=None, description="the logged-in user (e-mail); the principal when absent")


class RaceCloseAccepted(BaseModel):
    race_id: str
    closed_at_utc: str
    batch_id: str


class AlertActionAccepted(BaseModel):
    alert_id: str
    action: str
    batch_id: str


class Health(BaseModel):
    status: Literal["ok", "degraded", "failing"]
    version: str
    landing_dir: str
    landing_writable: bool
    course_published: bool
    problems: list[str]


class ErrorDetail(BaseModel):
    detail: str | list[dict[str, Any]]


# Survey CSV columns (survey_responses in docs/warehouse.md); the first three are required.
SURVEY_REQUIRED = ("race_id", "bib", "cramped")
SURVEY_COLUMNS = tuple(KINDS["survey"].sent_schema)

REPORT = TypeAdapter(ReportIn)
REPORT_BATCH = TypeAdapter(ReportBatch)
PASSING_BATCH = TypeAdapter(PassingBatch)
PASSINGS = TypeAdapter(list[PassingIn])
PARTICIPANT_BATCH = TypeAdapter(ParticipantBatch)
PARTICIPANTS = TypeAdapter(list[ParticipantIn])
WEATHER = TypeAdapter(WeatherIn)
WEATHER_BATCH = TypeAdapter(WeatherBatch)
WEATHERS = TypeAdapter(list[WeatherIn])
REPORTS = TypeAdapter(list[ReportIn])
ALERT_ACTION = TypeAdapter(AlertActionIn)
RACE_CLOSE = TypeAdapter(RaceCloseIn)
