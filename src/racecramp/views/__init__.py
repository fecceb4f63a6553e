"""What the dashboard pages show, computed from the published snapshots (no Streamlit here).

The pages in `dashboards/` only draw; every number they put on screen comes from a function
in this module, so tests and the benchmark check the numbers without a browser.

Rules shared by every page:
- Only the Parquet snapshots in `settings.snapshot_dir` are read (never warehouse.duckdb).
  Reads are cached on the file's identity (inode, mtime, size): the publisher replaces a
  snapshot atomically, so the next refresh after a publish sees the new file.
- "Now" is the race clock: the latest event in the data (report or passing), capped at the
  wall clock. A replay of a past race is therefore shown as it was at its latest event.
- Cramp reports are the medical ones (aid stations and the finish tent), deduplicated by
  report_id; survey answers are not live reports.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from racecramp.domain import PointKind, WbgtFlag
from racecramp.publish.snapshots import load_snapshot, read_manifest
from racecramp.marts.forecast import race_weather
from racecramp.marts.clock import race_clock  # noqa: F401  (dashboard pages call dd.race_clock)
from racecramp.marts.hazard import station_catchments
from racecramp.marts.heat import with_heat
from racecramp.marts.locator import MEDICAL_REPORT_SOURCES
from racecramp.marts.rates import unique_reports
from racecramp.marts.stats import PER_1000, wilson_ci

UTC_US = pl.Datetime("us", "UTC")

# Every table the pages may read: the analyst tables and the marts (docs/dashboard.md).
ANALYST_TABLES = (
    "races", "course_points", "participants", "passings", "weather_observations",
    "cramp_reports", "survey_responses", "quarantine",
)
MARTS = (
    "cramp_rate_by_distance", "cramp_rate_by_station", "cramp_rate_by_pace_group", "cramp_rate_by_wbgt",
    "cramp_rate_by_sex_age", "station_load_15m", "late_slowdown_by_edition", "survey_risk_factors",
    "alerts", "station_forecast", "runner_status",
)
# Published weather with the heat columns, when the pipeline publishes it; otherwise the
# dashboard adds them to weather_observations with transforms.heat.with_heat.
WEATHER_WITH_HEAT_TABLE = "weather_heat"

# Operational choice: during a race the timing feed lands passings every few seconds, so no
# ingest for 2 minutes means a feed, the intake or the ingest has stopped.
DATA_STALE_AFTER_S = 120.0

KPI_WINDOWS_MIN = (15, 60)
# The only columns command_kpis needs from the two big tables (read just these).
KPI_PARTICIPANT_COLUMNS = ("race_id", "bib", "simulated")
KPI_STATUS_COLUMNS = ("race_id", "status", "simulated")

# Colours of the ACSM flags on screen (white gets a dark border where it is drawn).
FLAG_COLOURS = {
    WbgtFlag.WHITE.value: "#f5f5f5",
    WbgtFlag.GREEN.value: "#2e7d32",
    WbgtFlag.YELLOW.value: "#f9a825",
    WbgtFlag.RED.value: "#c62828",
    WbgtFlag.BLACK.value: "#111111",
}

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


# --------------------------------------------------------------------------- reading snapshots

@dataclass(frozen=True)
class Snapshots:
    """The published snapshot folder the pages read."""

    directory: Path

    def table(self, name: str, columns: tuple[str, ...] | None = None) -> pl.DataFrame | None:
        return load_snapshot(self.directory, name, columns)

    def manifest(self) -> dict | None:
        return read_manifest(self.directory)

    def race_ids(self) -> list[str]:
        races = self.table("races", ("race_id",))
        return sorted(races["race_id"].unique().to_list()) if races is not None and races.height else []


def for_race(frame: pl.DataFrame | None, race_id: str) -> pl.DataFrame | None:
    """Rows of one race (frames without race_id are returned whole)."""
    if frame is None or "race_id" not in frame.columns:
        return frame
    return frame.filter(pl.col("race_id") == race_id)


def any_simulated(*frames: pl.DataFrame | None) -> bool:
    """True when any row of any frame is simulated (the page then says SIMULATED)."""
    return any(
        f is not None and "simulated" in f.columns and bool(f["simulated"].fill_null(False).any()) for f in frames
    )


# --------------------------------------------------------------------------- latest event (race_clock: transforms.clock)


def _max_time(frame: pl.DataFrame | None, column: str) -> datetime | None:
    if frame is None or column not in frame.columns or frame.height == 0:
        return None
    return frame[column].max()


def medical_reports(reports: pl.DataFrame | None, race_id: str, now_utc: datetime | None = None) -> pl.DataFrame:
    """Aid-station and finish-tent reports of the race, one per report_id, known at now_utc."""
    if reports is None:
        return pl.DataFrame()
    frame = unique_reports(reports.filter(pl.col("race_id") == race_id)).filter(
        pl.col("source").is_in(MEDICAL_REPORT_SOURCES)
    )
    if now_utc is not None:
        frame = frame.filter(pl.col("reported_at_utc") <= now_utc)
    return frame.collect()


# --------------------------------------------------------------------------- command page


@dataclass(frozen=True)
class CommandKpis:
    race_id: str
    now_utc: datetime | None
    reports_last_15m: int
    reports_last_60m: int
    reports_total: int
    cases: int  # runners with a report, plus reports without a bib (as in the rate marts)
    starters: int
    cases_per_1000_starters: float | None
    cases_per_1000_ci: tuple[float, float] | None
    runners_on_course: int | None  # None when runner_status is not published
    finishers: int | None
    in_medical: int | None
    dnf: int | None
    simulated: bool


def command_kpis(
    reports: pl.DataFrame | None,
    participants: pl.DataFrame | None,
    runner_status: pl.DataFrame | None,
    race_id: str,
    now_utc: datetime | None,
) -> CommandKpis:
    """The command page KPIs at now_utc (the race clock)."""
    seen = medical_reports(reports, race_id, now_utc) if now_utc is not None else medical_reports(reports, race_id)
    windows = {}
    for minutes in KPI_WINDOWS_MIN:
        if now_utc is None or seen.height == 0:
            windows[minutes] = 0
        else:
            since = now_utc - timedelta(minutes=minutes)
            windows[minutes] = seen.filter(pl.col("reported_at_utc") > since).height
    cases = 0
    if seen.height:
        cases = int(seen["bib"].drop_nulls().n_unique() + seen["bib"].null_count())
    starters = for_race(participants, race_id).height if participants is not None else 0
    per_1000 = ci = None
    if starters:
        per_1000 = cases / starters * PER_1000
        if cases <= starters:
            low, high = wilson_ci(cases, starters)
            ci = (float(low[0]) * PER_1000, float(high[0]) * PER_1000)
    status_counts: dict[str, int] | None = None
    status = for_race(runner_status, race_id)
    if status is not None:
        status_counts = dict(status.group_by("status").len().iter_rows())
    count = (lambda s: None) if status_counts is None else (lambda s: int(status_counts.get(s, 0)))
    return CommandKpis(
        race_id=race_id,
        now_utc=now_utc,
        reports_last_15m=windows[15],
        reports_last_60m=windows[60],
        reports_total=seen.height,
        cases=cases,
        starters=starters,
        cases_per_1000_starters=per_1000,
        cases_per_1000_ci=ci,
        runners_on_course=count("on_course"),
        finishers=count("finished"),
        in_medical=count("in_medical"),
        dnf=count("dnf"),
        simulated=any_simulated(seen, for_race(participants, race_id), status),
    )


def weather_with_heat(snapshots: Snapshots) -> pl.DataFrame | None:
    """Weather observations with rh_pct, wbgt_c, wbgt_method and wbgt_flag."""
    published = snapshots.table(WEATHER_WITH_HEAT_TABLE)
    if published is not None:
        return published
    weather = snapshots.table("weather_observations")
    if weather is None:
        return None
    return with_heat(weather.lazy()).collect()


@dataclass(frozen=True)
class WbgtNow:
    wbgt_c: float
    flag: str
    observed_at_utc: datetime
    source: str
    location: str | None
    method: str | None
    previous_wbgt_c: float | None
    previous_at_utc: datetime | None
    change_c: float | None  # latest minus previous observation of the same feed
    age_s: float  # at now_utc
    stale: bool
    simulated: bool
    interpolated: bool

    @property
    def colour(self) -> str:
        return FLAG_COLOURS.get(self.flag, "#9e9e9e")


def wbgt_series(weather_heat: pl.DataFrame | None, race_id: str, now_utc: datetime | None) -> pl.DataFrame:
    """The race's WBGT observations from its one preferred feed, up to now_utc, oldest first."""
    if weather_heat is None or weather_heat.height == 0 or now_utc is None:
        return pl.DataFrame(schema={"observed_at_utc": UTC_US, "wbgt_c": pl.Float64, "wbgt_flag": pl.String, "source": pl.String})
    return race_weather(weather_heat, race_id, now_utc).filter(pl.col("wbgt_c").is_not_null())


def wbgt_now(weather_heat: pl.DataFrame | None, race_id: str, now_utc: datetime | None, stale_after_s: float) -> WbgtNow | None:
    """The latest WBGT at now_utc with its flag, change since the previous reading and source."""
    series = wbgt_series(weather_heat, race_id, now_utc)
    if series.height == 0:
        return None
    latest = series.row(-1, named=True)
    same_feed = series.filter(pl.col("observed_at_utc") < latest["observed_at_utc"])
    if "location" in series.columns:
        same_feed = same_feed.filter(pl.col("location").eq_missing(latest["location"]))
    previous = same_feed.row(-1, named=True) if same_feed.height else None
    age_s = (now_utc - latest["observed_at_utc"]).total_seconds()
    return WbgtNow(
        wbgt_c=float(latest["wbgt_c"]),
        flag=latest["wbgt_flag"],
        observed_at_utc=latest["observed_at_utc"],
        source=latest["source"],
        location=latest.get("location"),
        method=latest.get("wbgt_method"),
        previous_wbgt_c=None if previous is None else float(previous["wbgt_c"]),
        previous_at_utc=None if previous is None else previous["observed_at_utc"],
        change_c=None if previous is None else float(latest["wbgt_c"]) - float(previous["wbgt_c"]),
        age_s=age_s,
        stale=age_s > stale_after_s,
        simulated=bool(latest.get("simulated") or False),
        interpolated=bool(latest.get("interpolated") or False),
    )


def open_alerts(alerts: pl.DataFrame | None, race_id: str) -> pl.DataFrame | None:
    """Alerts not yet resolved, most severe first, then newest first."""
    alerts = for_race(alerts, race_id)
    if alerts is None:
        return None
    return (
        alerts.filter(pl.col("status") != "resolved")
        .with_columns(pl.col("severity").replace_strict(SEVERITY_ORDER, default=9, return_dtype=pl.Int64).alias("_order"))
        .sort(["_order", "opened_at_utc", "alert_id"], descending=[False, True, False])
        .drop("_order")
    )


@dataclass(frozen=True)
class Freshness:
    published_at_utc: datetime | None
    last_ingest_utc: datetime | None
    age_s: float | None  # since the last ingest (or publish), at the wall clock
    stale: bool
    message: str


def _parse_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).astimezone(UTC) if text else None


def freshness(manifest: dict | None, wall_now_utc: datetime, stale_after_s: float = DATA_STALE_AFTER_S) -> Freshness:
    """How old the published data is; stale when nothing was ingested for stale_after_s."""
    if manifest is None:
        return Freshness(None, None, None, True, "Nothing has been published yet: import a race or start the intake.")
    published = _parse_iso(manifest.get("published_at_utc"))
    ingested = _parse_iso(manifest.get("last_ingest_utc"))
    reference = ingested or published
    age_s = (wall_now_utc - reference).total_seconds() if reference else None
    stale = age_s is None or age_s > stale_after_s
    if age_s is None:
        message = "The manifest has no publish time."
    else:
        message = f"Last ingest {format_age(age_s)} ago" + (
            f": STALE (more than {format_age(stale_after_s)} without new data; check the feeds and `racecramp status`)."
            if stale else "."
        )
    return Freshness(published, ingested, age_s, stale, message)


def format_age(seconds: float) -> str:
    """'45 s', '12 min', '3 h 05 min', '2 d 4 h'."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    hours, mins = divmod(int(minutes), 60)
    if hours < 48:
        return f"{hours} h {mins:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def load_by_quarter_hour(station_load: pl.DataFrame | None, race_id: str) -> pl.DataFrame | None:
    """Cases and runners passing stations per 15-minute bucket, all stations together."""
    frame = for_race(station_load, race_id)
    if frame is None:
        return None
    return (
        frame.group_by("bucket_start_utc")
        .agg(pl.col("cases").sum(), pl.col("runners").sum(), pl.col("simulated").any())
        .sort("bucket_start_utc")
    )


# --------------------------------------------------------------------------- course page

COURSE_COLUMNS = (
    "point_id", "label", "kind", "km", "cases", "runners", "rate_per_1000", "ci_low_per_1000", "ci_high_per_1000",
    "small_count", "runners_approaching", "in_tent_now", "arrivals_next_30m", "expected_cramps_next_30m",
    "expected_cramps_next_30m_lo", "expected_cramps_next_30m_hi", "arrivals_next_60m", "expected_cramps_next_60m",
    "expected_cramps_next_60m_lo", "expected_cramps_next_60m_hi", "beds", "simulated",
)


def course_view(
    course_points: pl.DataFrame | None,
    by_station: pl.DataFrame | None,
    forecast: pl.DataFrame | None,
    runner_status: pl.DataFrame | None,
    race_id: str,
) -> pl.DataFrame | None:
    """One row per aid station and medical tent along the course, by km.

    cases/runners/rate/CI: cramp_rate_by_station. runners_approaching: runners on course
    whose projected position is between the previous station and this one (runner_status).
    in_tent_now: runners whose latest report is at this station with no disposition yet.
    Forecast columns: station_forecast. beds: course_points (null when not configured).
    """
    points = for_race(course_points, race_id)
    if points is None or points.height == 0:
        return None
    stations = station_catchments(points).filter(pl.col("kind") != PointKind.FINISH.value)
    stations = stations.join(points.select("point_id", "beds"), on="point_id", how="left").with_columns(
        pl.col("from_km").alias("_from_km")
    )
    rates = for_race(by_station, race_id)
    if rates is not None:
        stations = stations.join(
            rates.select("point_id", "cases", "runners", "rate_per_1000", "ci_low_per_1000", "ci_high_per_1000",
                         "small_count", pl.col("simulated").alias("_sim_rates")),
            on="point_id", how="left",
        )
    fc = for_race(forecast, race_id)
    forecast_cols = [c for c in COURSE_COLUMNS if c.startswith(("arrivals_next", "expected_cramps_next"))]
    if fc is not None:
        stations = stations.join(
            fc.select("point_id", *forecast_cols, pl.col("simulated").alias("_sim_fc")), on="point_id", how="left"
        )
    status = for_race(runner_status, race_id)
    if status is not None:
        moving = status.filter((pl.col("status") == "on_course") & pl.col("projected_km_now").is_not_null())
        approaching = (
            stations.select("point_id", "_from_km", "km")
            .join(moving.select("projected_km_now"), how="cross")
            .filter((pl.col("projected_km_now") > pl.col("_from_km")) & (pl.col("projected_km_now") <= pl.col("km")))
            .group_by("point_id")
            .len("runners_approaching")
            if moving.height
            else pl.DataFrame(schema={"point_id": pl.String, "runners_approaching": pl.UInt32})
        )
        in_tent = (
            status.filter(pl.col("status") == "in_medical")
            .group_by(pl.col("last_report_point_id").alias("point_id"))
            .len("in_tent_now")
        )
        stations = (
            stations.join(approaching, on="point_id", how="left")
            .join(in_tent, on="point_id", how="left")
            .with_columns(pl.col("runners_approaching", "in_tent_now").fill_null(0).cast(pl.Int64))
        )
    sims = [c for c in ("_sim_rates", "_sim_fc") if c in stations.columns]
    stations = stations.with_columns(
        (pl.any_horizontal(pl.col(sims).fill_null(False)) if sims else pl.lit(False)).alias("simulated")
    )
    return stations.select([c for c in COURSE_COLUMNS if c in stations.columns]).sort("km", "point_id")


# --------------------------------------------------------------------------- rates page

RATE_TAIL = ("cases", "runners", "rate_per_1000", "ci_low_per_1000", "ci_high_per_1000", "small_count",
             "denominator_kind", "simulated")


def rate_table(mart: pl.DataFrame | None, race_id: str, keys: tuple[str, ...],
               grouping: str | None = None) -> pl.DataFrame | None:
    """A rate mart's rows for one race (and one pace grouping), keys then numerator, denominator, CI."""
    frame = for_race(mart, race_id)
    if frame is None:
        return None
    if grouping is not None:
        frame = frame.filter(pl.col("grouping") == grouping)
    return frame.select([c for c in (*keys, *RATE_TAIL) if c in frame.columns])


# --------------------------------------------------------------------------- runner lookup


@dataclass(frozen=True)
class RunnerView:
    status: dict  # the runner_status row
    reports: pl.DataFrame  # that runner's medical reports, oldest first
    participant: dict | None


def runner_lookup(
    runner_status: pl.DataFrame | None,
    reports: pl.DataFrame | None,
    participants: pl.DataFrame | None,
    race_id: str,
    bib: str,
    now_utc: datetime | None = None,
) -> RunnerView | None:
    """The runner_status row of a bib, its reports and participant facts; None when unknown."""
    bib = bib.strip()
    status = for_race(runner_status, race_id)
    if not bib or status is None:
        return None
    row = status.filter(pl.col("bib") == bib)
    if row.height == 0:
        return None
    own = medical_reports(reports, race_id, now_utc)
    own = own.filter(pl.col("bib") == bib).sort("reported_at_utc") if own.height else own
    people = for_race(participants, race_id)
    person = None
    if people is not None:
        match = people.filter(pl.col("bib") == bib)
        person = match.row(0, named=True) if match.height else None
    return RunnerView(status=row.row(0, named=True), reports=own, participant=person)


# --------------------------------------------------------------------------- data quality


def quarantine_summary(quarantine: pl.DataFrame | None) -> pl.DataFrame | None:
    """Quarantined rows per source and failed check, most first."""
    if quarantine is None:
        return None
    return (
        quarantine.group_by("source", "check")
        .agg(pl.len().alias("rows"), pl.col("landed_at_utc").max().alias("last_landed_at_utc"))
        .sort(["rows", "source", "check"], descending=[True, False, False])
    )


def feed_freshness(
    passings: pl.DataFrame | None,
    reports: pl.DataFrame | None,
    weather: pl.DataFrame | None,
    race_id: str,
    race_now_utc: datetime | None,
    wall_now_utc: datetime,
) -> pl.DataFrame:
    """Latest event per feed and its age on the race clock and the wall clock."""
    rows = []
    race_weather_rows = None
    if weather is not None:
        race_weather_rows = weather.filter(pl.col("race_id").is_null() | (pl.col("race_id") == race_id))
    for feed, frame, column in (
        ("timing (passings)", for_race(passings, race_id), "passed_at_utc"),
        ("cramp reports", for_race(reports, race_id), "reported_at_utc"),
        ("weather", race_weather_rows, "observed_at_utc"),
    ):
        latest = _max_time(frame, column)
        rows.append({
            "feed": feed,
            "rows": 0 if frame is None else frame.height,
            "latest_event_utc": latest,
            "age_on_race_clock_s": None if latest is None or race_now_utc is None else (race_now_utc - latest).total_seconds(),
            "age_on_wall_clock_s": None if latest is None else (wall_now_utc - latest).total_seconds(),
        })
    return pl.DataFrame(rows, schema={"feed": pl.String, "rows": pl.Int64, "latest_event_utc": UTC_US,
                                      "age_on_race_clock_s": pl.Float64, "age_on_wall_clock_s": pl.Float64})


# --------------------------------------------------------------------------- station entry


def principal_for_token(token_hashes: dict[str, str], token: str) -> str | None:
    """The principal ('station:<point_id>', 'command', …) whose token this is, else None."""
    if not token:
        return None
    digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
    found = None
    for name, expected in sorted(token_hashes.items()):
        if hmac.compare_digest(digest, expected) and found is None:
            found = name
    return found


def station_of(principal: str | None) -> str | None:
    """point_id of a 'station:<point_id>' principal, else None."""
    prefix = "station:"
    return principal[len(prefix):] if principal and principal.startswith(prefix) else None


def station_choices(course_points: pl.DataFrame | None, race_id: str) -> pl.DataFrame:
    """Aid stations and medical tents of the race (point_id, label, kind, km), by km."""
    points = for_race(course_points, race_id)
    if points is None:
        return pl.DataFrame(schema={"point_id": pl.String, "label": pl.String, "kind": pl.String, "km": pl.Float64})
    return (
        points.filter(pl.col("kind").is_in([PointKind.AID_STATION.value, PointKind.MEDICAL_TENT.value]))
        .select("point_id", "label", "kind", "km")
        .sort("km", "point_id")
    )


def report_payload(
    report_id: str,
    race_id: str,
    station: dict,
    reported_at_utc: datetime,
    *,
    bib: str | None,
    muscle_group: str,
    severity: str,
    treatment: str,
    disposition: str,
    entered_by: str | None = None,
) -> dict:
    """The JSON body of POST /v1/reports for a station's report (source from the station kind)."""
    source = "finish_tent" if station["kind"] == PointKind.MEDICAL_TENT.value else "aid_station"
    bib = (bib or "").strip() or None
    payload = {
        "report_id": report_id,
        "race_id": race_id,
        "source": source,
        "point_id": station["point_id"],
        "km": float(station["km"]),
        "bib": bib,
        "reported_at_utc": reported_at_utc.astimezone(UTC).isoformat(),
        "muscle_group": muscle_group,
        "severity": severity,
        "treatment": treatment,
        "disposition": disposition,
    }
    if entered_by:
        payload["entered_by"] = entered_by
    return payload


def format_number(value: float | int | None, digits: int = 0) -> str:
    """A number for a KPI tile; '—' when unknown."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"
