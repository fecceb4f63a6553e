"""Every landing kind, declared once.

A kind is what arrives in the landing zone (`landing/<kind>/`): its columns (with their
types, allowed values and meaning), its natural key, the staging table it is merged into,
the analyst view and snapshot readers see, the principals that may send it over HTTP, the
row rules validation applies, and the analyst tables a merge of it republishes. Landing,
validation, the ingest, publishing, intake auth, the views, the report and
docs/warehouse.md read this list; no other module lists kinds.

Adding a kind is one entry here plus its migration (a test checks the two agree).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from racecramp.columns import UTC_DT, Column, schema_of
from racecramp.domain import (
    BIB_PATTERN,
    CODE_PATTERN,
    COMMAND,
    FEED_SURVEY,
    FEED_TIMING,
    FEED_WEATHER,
    IDENTITY_PATTERN,
    MUSCLE_GROUPS,
    MUSCLES_PATTERN,
    SEXES,
    STATION,
    TREATMENTS,
    Disposition,
    PointKind,
    ReportSource,
    Severity,
)

SLUG = r"^[a-z0-9][a-z0-9-]*$"
UUID_TEXT = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
MAX_NET_TIME_S = 12 * 3600  # a course closes well within 12 h; longer is a typing error

# Row rules (validation.rules implements each one, by name).
RACE_IS_KNOWN = "race_is_known"
KM_WITHIN_COURSE = "km_within_course"
POINT_ON_COURSE = "point_on_course"
KM_MATCHES_POINT = "km_matches_point"
FIRST_OF_KEY = "first_occurrence_of_key"
DEW_POINT_NOT_ABOVE_TEMPERATURE = "dew_point_not_above_temperature"
ONSET_WITHIN_COURSE = "onset_km_within_course"
ONSET_ONLY_IF_CRAMPED = "onset_only_if_cramped"
TIMEZONE_IS_IANA = "timezone"
TIME_IN_WINDOW = "time_in_race_window"


@dataclass(frozen=True)
class Kind:
    name: str
    description: str
    columns: tuple[Column, ...]
    natural_key: tuple[str, ...]
    staging_table: str | None  # None: the kind is merged into other kinds' tables (results)
    view: str | None  # the analyst view and snapshot; None when not published on its own
    principals: tuple[str, ...]  # who may send it over HTTP (STATION: a station, for its own point)
    rules: tuple[str, ...] = ()
    republishes: tuple[str, ...] = ()  # analyst tables (views) a merge of this kind changes
    merges_into: tuple[str, ...] = ()  # kinds whose staging tables a merge writes (default: itself)
    has_race: bool = True  # records carry race_id
    event_time: str | None = None  # the column holding when it happened (time-window checks)

    @property
    def schema(self) -> dict[str, pl.DataType]:
        """Canonical landed columns (without the ones the ingest derives)."""
        return schema_of(self.columns, include_derived=False)

    @property
    def sent_schema(self) -> dict[str, pl.DataType]:
        """Columns a client sends (the landed ones without those the receiver assigns)."""
        return {name: dtype for name, dtype in self.schema.items() if not self.column(name).assigned}

    @property
    def table_schema(self) -> dict[str, pl.DataType]:
        """Columns of the staging table, derived ones included."""
        return schema_of(self.columns)

    @property
    def defaults(self) -> dict[str, object]:
        return {c.name: c.default for c in self.columns if c.default is not None}

    def conform(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The frame with exactly this kind's landed columns, in order and type (a missing one is null)."""
        return frame.select([
            (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name) for name, dtype in self.schema.items()
        ])

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"kind {self.name} has no column {name!r}")


def _race_id(description: str = "the race edition, e.g. `boston-2017`") -> Column:
    return Column("race_id", pl.String, description, nullable=False, min_len=1)


def _bib(nullable: bool = False, description: str = "the runner's bib: a short code, never a name") -> Column:
    return Column("bib", pl.String, description, nullable=nullable, pattern=BIB_PATTERN, personal=True)


def _simulated() -> Column:
    return Column("simulated", pl.Boolean, "true for rows made by the race simulator (labelled SIMULATED wherever shown)",
                  nullable=False, default=False)


WAVE_DTYPE = pl.List(
    pl.Struct({"wave": pl.Int32, "start_utc": UTC_DT, "bib_from": pl.String, "bib_to": pl.String, "bib_prefix": pl.String})
)

RACES = Kind(
    name="races",
    description="One row per race edition.",
    columns=(
        Column("race_id", pl.String, "slug, e.g. `boston-2017` (natural key)", nullable=False, pattern=SLUG),
        Column("name", pl.String, "e.g. `Boston Marathon`", nullable=False),
        Column("date", pl.Date, "local race date", nullable=False),
        Column("timezone", pl.String, "IANA time zone, e.g. `America/New_York`", nullable=False),
        Column("distance_km", pl.Float64, "course length", nullable=False, ge=1, le=250),
        Column("start_waves", WAVE_DTYPE,
               "wave starts: wave number, gun time, and the bib range (`bib_from`..`bib_to`, numeric ranges as text, "
               "optionally with a `bib_prefix`); bibs are null when waves are not by bib"),
        Column("course_time_limit_s", pl.Float64, "how long the course stays open after the last wave starts "
               "(null: 8 h); bounds the race's time window", ge=3600, le=48 * 3600),
    ),
    natural_key=("race_id",),
    staging_table="stg_races",
    view="races",
    principals=(),  # imported from a race file by the CLI only
    rules=(TIMEZONE_IS_IANA,),
    republishes=("races",),
)

COURSE_POINTS = Kind(
    name="course_points",
    description="Timing mats, aid stations, medical tents and the finish of each race.",
    columns=(
        _race_id(),
        Column("point_id", pl.String, "`mat-05k` … `mat-40k`, `mat-half`, `finish`, `aid-02mi` …, `med-finish` (key with race_id)",
               nullable=False, pattern=SLUG),
        Column("kind", pl.String, "what the point is", nullable=False, isin=tuple(k.value for k in PointKind)),
        Column("km", pl.Float64, "distance from the start", nullable=False, ge=0),
        Column("label", pl.String, "what volunteers call it", nullable=False),
        Column("beds", pl.Int32, "cots, when known, else null", ge=0),
        Column("position_source", pl.String, "citation for the km, or `approximate: …`"),
        Column("lat", pl.Float64, "latitude (WGS84) of the point on the course track, null when not known", ge=-90, le=90),
        Column("lon", pl.Float64, "longitude (WGS84) of the point on the course track, null when not known", ge=-180, le=180),
    ),
    natural_key=("race_id", "point_id"),
    staging_table="stg_course_points",
    view="course_points",
    principals=(),  # imported with the race file by the CLI only
    rules=(RACE_IS_KNOWN, KM_WITHIN_COURSE),
    republishes=("course_points",),
)

COURSE_TRACK = Kind(
    name="course_track",
    description="The course as a line: track vertices in course order with the km along them (the Course page's map).",
    columns=(
        _race_id(),
        Column("seq", pl.Int32, "vertex number from 0 at the start (key with race_id)", nullable=False, ge=0),
        Column("km", pl.Float64, "distance from the start along the track, scaled to the race distance", nullable=False, ge=0),
        Column("lat", pl.Float64, "latitude (WGS84)", nullable=False, ge=-90, le=90),
        Column("lon", pl.Float64, "longitude (WGS84)", nullable=False, ge=-180, le=180),
    ),
    natural_key=("race_id", "seq"),
    staging_table="stg_course_track",
    view="course_track",
    principals=(),  # imported with the race file by the CLI only
    rules=(RACE_IS_KNOWN, KM_WITHIN_COURSE),
    republishes=("course_track",),
)

PARTICIPANTS = Kind(
    name="participants",
    description="One row per runner on the roster (start list, or the results file's runners).",
    columns=(
        _race_id(),
        _bib(),
        Column("sex", pl.String, "as registered", isin=SEXES),
        Column("age", pl.Int32, "on race day", ge=10, le=100),
        Column("age_band", pl.String, "`<18`, `18-29`, `30-39`, `40-49`, `50-59`, `60-69`, `70+`", derived=True),
        Column("wave", pl.Int32, "start wave, null if unknown (derived from the race's bib ranges when not sent)", ge=0),
        Column("wave_start_utc", UTC_DT, "gun time of the wave", derived=True),
        Column("declared_finish_s", pl.Float64, "the runner's declared (target) finish time, null when unknown",
               ge=3600, le=MAX_NET_TIME_S),
        Column("declared_is_synthetic", pl.Boolean, "true when declared_finish_s was synthesised (replay), not declared",
               nullable=False, default=False),
        Column("finished", pl.Boolean, "crossed the finish (false on a start list)", nullable=False),
        Column("official_time_s", pl.Float64, "net finish time, null for non-finishers", ge=3600, le=MAX_NET_TIME_S),
        _simulated(),
    ),
    natural_key=("race_id", "bib"),
    staging_table="stg_participants",
    view="participants",
    principals=(FEED_TIMING, COMMAND),
    rules=(RACE_IS_KNOWN, FIRST_OF_KEY),
    republishes=("participants",),
)

PASSINGS = Kind(
    name="passings",
    description="One row per runner per timing point.",
    columns=(
        _race_id(),
        _bib(),
        Column("point_id", pl.String, "the timing point", nullable=False, min_len=1),
        Column("km", pl.Float64, "the point's km (filled from the course when a feed omits it)", nullable=False, ge=0),
        Column("net_time_s", pl.Float64, "chip time since the runner crossed the start", nullable=False, ge=0,
               le=MAX_NET_TIME_S),
        Column("passed_at_utc", UTC_DT,
               "wall-clock time; `wave_start_utc + net_time_s` when the feed gives net times only "
               "(start-line crossing delay unknown)"),
        _simulated(),
    ),
    natural_key=("race_id", "bib", "point_id"),
    staging_table="stg_passings",
    view="passings",
    principals=(FEED_TIMING, COMMAND),
    rules=(RACE_IS_KNOWN, KM_WITHIN_COURSE, POINT_ON_COURSE, KM_MATCHES_POINT, TIME_IN_WINDOW),
    republishes=("passings",),
    event_time="passed_at_utc",
)

RESULTS = Kind(
    name="results",
    description="A results file: one row per runner with nested splits, merged as participants and passings.",
    columns=(
        _race_id(),
        _bib(),
        Column("sex", pl.String, "as in the file", isin=SEXES),
        Column("age", pl.Int32, "on race day"),
        Column("wave", pl.Int32, "start wave"),
        Column("declared_finish_s", pl.Float64, "declared finish time"),
        Column("finished", pl.Boolean, "crossed the finish", nullable=False),
        Column("official_time_s", pl.Float64, "net finish time"),
        Column("start_delay_s", pl.Float64, "gun time - chip time at the finish (start-line delay), when the file has both"),
        Column("source_file", pl.String, "the file's name", nullable=False),
        Column("source_row", pl.Int64, "line number in the file", nullable=False),
        Column("splits", pl.List(pl.Struct({"point_id": pl.String, "km": pl.Float64, "net_time_s": pl.Float64,
                                             "column": pl.String})), "split times by point"),
        Column("parse_errors", pl.List(pl.Struct({"column": pl.String, "value": pl.String, "expected": pl.String})),
               "cells the reader could not read"),
    ),
    natural_key=("race_id", "bib"),
    staging_table=None,
    view=None,
    principals=(),  # bulk import only
    republishes=("participants", "passings"),
    merges_into=("participants", "passings"),
)

WEATHER = Kind(
    name="weather",
    description="Weather observations (key source + location + observed_at_utc).",
    columns=(
        Column("source", pl.String, "the feed: `visualcrossing`, `iem-asos:KBOS`, `open-meteo`, `replay` …",
               nullable=False, pattern=CODE_PATTERN, personal=True),
        Column("location", pl.String, "station or place (over HTTP a code; from a file, its place name)", nullable=False,
               min_len=1, max_len=128, personal=True),
        Column("observed_at_utc", UTC_DT, "when observed", nullable=False),
        Column("temp_c", pl.Float64, "air temperature", nullable=False, ge=-40, le=55),
        Column("dew_point_c", pl.Float64, "dew point", ge=-60, le=40),
        Column("rh_pct", pl.Float64, "relative humidity: given, or computed from temperature and dew point (Magnus)",
               ge=0, le=100),
        Column("wind_m_s", pl.Float64, "wind speed", ge=0, le=75),
        Column("conditions", pl.String, "sky text as given"),
        Column("race_id", pl.String, "race it was collected for, nullable"),
        Column("interpolated", pl.Boolean, "true for values interpolated between real observations", nullable=False,
               default=False),
        _simulated(),
        Column("latitude_deg", pl.Float64, "where observed, degrees north (the sun's position for the Liljegren WBGT)",
               ge=-90, le=90),
        Column("longitude_deg", pl.Float64, "where observed, degrees east", ge=-180, le=180),
        Column("shortwave_w_m2", pl.Float64, "global horizontal solar irradiance as the feed gives it "
               "(Open-Meteo `shortwave_radiation`: mean of the preceding hour)", ge=0, le=1500),
        Column("cloud_cover_pct", pl.Float64, "total cloud cover as the feed gives it as a number", ge=0, le=100),
        Column("pressure_hpa", pl.Float64, "station (surface) air pressure", ge=300, le=1100),
    ),
    natural_key=("source", "location", "observed_at_utc"),
    staging_table="stg_weather_observations",
    view="weather_observations",
    principals=(FEED_WEATHER, COMMAND),
    rules=(DEW_POINT_NOT_ABOVE_TEMPERATURE, TIME_IN_WINDOW),
    republishes=("weather_observations",),
    has_race=False,
    event_time="observed_at_utc",
)

REPORTS = Kind(
    name="reports",
    description="Cramp reports from aid stations, the finish tent and (as self-reports) the survey.",
    columns=(
        Column("report_id", pl.String, "UUID chosen by the client; a retry reuses it (natural key)", nullable=False,
               pattern=UUID_TEXT, sql="UUID"),
        _race_id(),
        Column("source", pl.String, "who saw the runner", nullable=False, isin=tuple(s.value for s in ReportSource)),
        _simulated(),
        Column("point_id", pl.String, "the station that saw the runner (null: not known)", min_len=1),
        Column("km", pl.Float64, "where the cramp was reported; a report without km takes its station's km, with "
               "neither it counts in the `km unknown` row", ge=0),
        _bib(nullable=True, description="the runner's bib, null when the runner gave none"),
        Column("reported_at_utc", UTC_DT, "when the report was made (the device's clock)", nullable=False),
        Column("muscle_group", pl.String, "the cramping muscle", isin=MUSCLE_GROUPS),
        Column("severity", pl.String, "as judged at the station", isin=tuple(s.value for s in Severity)),
        Column("treatment", pl.String, "what was done", isin=TREATMENTS),
        Column("disposition", pl.String, "what happened to the runner", isin=tuple(d.value for d in Disposition)),
        Column("entered_by", pl.String, "who sent it: the authenticated principal (its station, or command) or the import "
               "file; never typed", pattern=IDENTITY_PATTERN, personal=True, assigned=True),
        Column("received_at_utc", UTC_DT, "when the intake received it (its own clock; reported_at_utc is the device's)",
               derived=True),
        Column("supersedes_report_id", pl.String, "a correction: the report_id this report replaces (the earlier one then "
               "counts no more)", pattern=UUID_TEXT, sql="UUID"),
    ),
    natural_key=("report_id",),
    staging_table="stg_cramp_reports",
    view="cramp_reports",
    principals=(STATION, COMMAND),
    rules=(RACE_IS_KNOWN, KM_WITHIN_COURSE, POINT_ON_COURSE, KM_MATCHES_POINT, TIME_IN_WINDOW),
    republishes=("cramp_reports",),
    event_time="reported_at_utc",
)

SURVEY = Kind(
    name="survey",
    description="Post-race survey answers (key race_id + bib).",
    columns=(
        _race_id(),
        _bib(),
        Column("cramped", pl.Boolean, "cramped during the race", nullable=False),
        Column("onset_km", pl.Float64, "where the first cramp began, nullable", ge=0),
        Column("muscles", pl.String, "muscle groups that cramped, comma-separated", pattern=MUSCLES_PATTERN, personal=True),
        Column("longest_training_run_km", pl.Float64, "longest run in the build-up", ge=0, le=100),
        Column("weekly_km", pl.Float64, "typical weekly distance", ge=0, le=400),
        Column("strength_training", pl.Boolean, "did strength training"),
        Column("plyometrics", pl.Boolean, "did plyometrics"),
        Column("target_pace_s_per_km", pl.Float64, "the pace the runner aimed for", ge=150, le=1200),
        Column("electrolyte_drinks", pl.Boolean, "drank electrolyte drinks in the race"),
        Column("heat_acclimatised", pl.Boolean, "trained in heat beforehand"),
        Column("prior_cramps", pl.Boolean, "had cramped in earlier races"),
        _simulated(),
        Column("answered_at_utc", UTC_DT, "when the runner answered, when the survey tool says"),
    ),
    natural_key=("race_id", "bib"),
    staging_table="stg_survey_responses",
    view="survey_responses",
    principals=(FEED_SURVEY, COMMAND),
    rules=(RACE_IS_KNOWN, ONSET_WITHIN_COURSE, ONSET_ONLY_IF_CRAMPED, FIRST_OF_KEY, TIME_IN_WINDOW),
    republishes=("survey_responses",),
    event_time="answered_at_utc",
)

ALERT_ACTIONS = Kind(
    name="alert_actions",
    description="The medical director's acknowledgements and resolutions of alerts.",
    columns=(
        Column("alert_id", pl.String, "the alert acted on", nullable=False, min_len=1),
        Column("action", pl.String, "what was done", nullable=False, isin=("acknowledge", "resolve")),
        Column("by", pl.String, "who did it: the logged-in user, else the principal", nullable=False,
               pattern=IDENTITY_PATTERN, personal=True),
        Column("at_utc", UTC_DT, "when", nullable=False),
    ),
    natural_key=("alert_id", "action", "at_utc"),
    staging_table="stg_alert_actions",
    view=None,  # read by the alerts mart, which shows each alert's acknowledgement
    principals=(COMMAND,),
    has_race=False,
    event_time="at_utc",
)

RACE_CLOSURES = Kind(
    name="race_closures",
    description="A race closed (`racecramp close-race`, the dashboard's Close race): report on it.",
    columns=(
        _race_id("the race closed"),
        Column("closed_at_utc", UTC_DT, "when", nullable=False),
        Column("closed_by", pl.String, "who: the logged-in user or the command-line user", nullable=False,
               pattern=IDENTITY_PATTERN, personal=True),
    ),
    natural_key=("race_id", "closed_at_utc"),
    staging_table="stg_race_closures",
    view="race_closures",
    principals=(COMMAND,),
    rules=(RACE_IS_KNOWN,),
    republishes=("race_closures",),
)

# Merge order: reference data first, so a roster and its passings landed in one run find their race.
KINDS: dict[str, Kind] = {
    k.name: k
    for k in (RACES, COURSE_POINTS, COURSE_TRACK, PARTICIPANTS, RESULTS, PASSINGS, WEATHER, REPORTS, SURVEY, ALERT_ACTIONS, RACE_CLOSURES)
}
KIND_NAMES: tuple[str, ...] = tuple(KINDS)


def kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"landing kind {name!r} is not one of {', '.join(KIND_NAMES)}") from None


def merge_order(name: str) -> int:
    return KIND_NAMES.index(name)


def staged_kinds() -> list[Kind]:
    """Kinds with a staging table of their own."""
    return [k for k in KINDS.values() if k.staging_table is not None]


# ---- warehouse tables that are not a kind's ------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A warehouse table written by the pipeline itself (audit trail, quarantine)."""

    name: str
    description: str
    columns: tuple[Column, ...]
    published: bool = False  # snapshot and analyst view
    key: tuple[str, ...] = field(default=())


QUARANTINE = Table(
    name="quarantine",
    description="Every rejected record with its reason; personal-data fields are masked, never kept.",
    columns=(
        Column("landed_at_utc", UTC_DT, "when the record reached the landing zone"),
        Column("source", pl.String, "landing kind and origin, e.g. `results:marathon_results_2017.csv`"),
        Column("record", pl.String, "the record as it arrived (JSON)", sql="JSON"),
        Column("column", pl.String, "offending column (null for row-level checks)"),
        Column("check", pl.String, "the check that failed"),
        Column("message", pl.String, "e.g. `row 14 of file.csv: km=-3 ... expected >= 0`", nullable=False),
        Column("batch_id", pl.String, "landing batch", nullable=False),
        Column("row_in_batch", pl.Int32, "position of the record in its batch", nullable=False),
    ),
    published=True,
)

RAW_RECORDS = Table(
    name="raw_records",
    description="Every landed record as it arrived (append-only audit trail), by batch and position.",
    columns=(
        Column("kind", pl.String, "landing kind", nullable=False),
        Column("batch_id", pl.String, "landing batch", nullable=False),
        Column("row_in_batch", pl.Int32, "position in the batch", nullable=False),
        Column("landed_at_utc", UTC_DT, "when it landed"),
        Column("source", pl.String, "who or what sent it"),
        Column("record", pl.String, "the record as it arrived (JSON)", sql="JSON"),
    ),
    key=("batch_id", "row_in_batch"),
)

LANDING_LOG = Table(
    name="landing_log",
    description="One row per merged landing batch: the ingest's record of what it has done.",
    columns=(
        Column("batch_id", pl.String, "landing batch (key)", nullable=False),
        Column("kind", pl.String, "landing kind", nullable=False),
        Column("path", pl.String, "batch file", nullable=False),
        Column("source", pl.String, "who or what sent it"),
        Column("landed_at_utc", UTC_DT, "when it landed"),
        Column("ingested_at_utc", UTC_DT, "when it was merged", nullable=False),
        Column("rows", pl.Int32, "records in the batch", nullable=False),
        Column("accepted", pl.Int32, "records merged", nullable=False),
        Column("quarantined", pl.Int32, "records quarantined", nullable=False),
    ),
    key=("batch_id",),
)

SYSTEM_TABLES: dict[str, Table] = {t.name: t for t in (LANDING_LOG, RAW_RECORDS, QUARANTINE)}

# What readers see: every kind's view, then quarantine (snapshots/<name>.parquet, replica views).
ANALYST_TABLES: tuple[str, ...] = tuple(k.view for k in KINDS.values() if k.view is not None) + ("quarantine",)


def kind_of_view(view: str) -> Kind:
    for k in KINDS.values():
        if k.view == view:
            return k
    raise KeyError(f"no landing kind has the analyst view {view!r}")
