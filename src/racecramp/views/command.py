"""The Command page: cramp KPIs at the race clock, WBGT now and its trend, open alerts, load."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from racecramp.domain import WbgtFlag
from racecramp.marts.counting import roster_holds_for
from racecramp.marts.forecast import race_weather
from racecramp.marts.heat import describe_wbgt, with_heat
from racecramp.marts.stats import PER_1000, wilson_ci
from racecramp.views.shared import UTC_US, Snapshots, any_simulated, for_race, medical_reports

KPI_WINDOWS_MIN = (15, 60)
# The only columns command_kpis needs from the two big tables (read just these).
KPI_PARTICIPANT_COLUMNS = ("race_id", "bib", "finished", "simulated")
KPI_STATUS_COLUMNS = ("race_id", "status", "simulated")
# Published weather with the heat columns (the weather_heat mart); without it the view adds
# them to weather_observations with marts.heat.with_heat.
WEATHER_WITH_HEAT_TABLE = "weather_heat"

# Colours of the ACSM flags on screen (white gets a dark border where it is drawn).
FLAG_COLOURS = {
    WbgtFlag.WHITE.value: "#f5f5f5",
    WbgtFlag.GREEN.value: "#2e7d32",
    WbgtFlag.YELLOW.value: "#f9a825",
    WbgtFlag.RED.value: "#c62828",
    WbgtFlag.BLACK.value: "#111111",
}

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class CommandKpis:
    race_id: str
    now_utc: datetime | None
    reports_last_15m: int
    reports_last_60m: int
    # what each window's count is compared with: the station_load_15m quarter hours the window
    # touches (None when the mart is not published): cases expected, runners who passed stations
    expected_last_15m: float | None
    expected_last_60m: float | None
    runners_passed_last_15m: int | None
    runners_passed_last_60m: int | None
    reports_total: int
    cases: int  # runners with a report, plus reports without a bib (as in the rate marts)
    runners: int  # the rate's denominator: the roster's runners
    denominator_kind: str  # what the roster holds: "starters", or "finishers" (counting.roster_holds)
    cases_per_1000: float | None
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
    station_load: pl.DataFrame | None = None,
) -> CommandKpis:
    """The command page KPIs at now_utc (the race clock); every count with what it is compared with."""
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
    roster = for_race(participants, race_id)
    runners = roster.height if roster is not None else 0
    per_1000 = ci = None
    if runners:
        per_1000 = cases / runners * PER_1000
        if cases <= runners:
            low, high = wilson_ci(cases, runners)
            ci = (float(low[0]) * PER_1000, float(high[0]) * PER_1000)
    compared = {m: window_load(station_load, race_id, now_utc, m) for m in KPI_WINDOWS_MIN}
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
        expected_last_15m=compared[15][0],
        expected_last_60m=compared[60][0],
        runners_passed_last_15m=compared[15][1],
        runners_passed_last_60m=compared[60][1],
        reports_total=seen.height,
        cases=cases,
        runners=runners,
        denominator_kind=roster_holds_for(roster, race_id) if roster is not None and roster.height else "starters",
        cases_per_1000=per_1000,
        cases_per_1000_ci=ci,
        runners_on_course=count("on_course"),
        finishers=count("finished"),
        in_medical=count("in_medical"),
        dnf=count("dnf"),
        simulated=any_simulated(seen, for_race(participants, race_id), status),
    )


def window_load(station_load: pl.DataFrame | None, race_id: str, now_utc: datetime | None,
                 minutes: int) -> tuple[float | None, int | None]:
    """(cases expected, runners who passed stations) over the station_load_15m quarter hours that
    overlap the `minutes` before now_utc; (None, None) without the mart or a clock."""
    frame = for_race(station_load, race_id)
    if frame is None or now_utc is None:
        return None, None
    since = now_utc - timedelta(minutes=minutes)
    part = frame.filter((pl.col("bucket_end_utc") > since) & (pl.col("bucket_start_utc") <= now_utc))
    return float(part["expected"].fill_null(0.0).sum()), int(part["runners_passed"].sum())


def weather_with_heat(snapshots: Snapshots) -> pl.DataFrame | None:
    """Weather observations with rh_pct, wbgt_c, its method and inputs, and wbgt_flag."""
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
    inputs: str  # the method and the inputs it used, in words (marts.heat.describe_wbgt)
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
        inputs=describe_wbgt(latest),
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


def load_by_quarter_hour(station_load: pl.DataFrame | None, race_id: str) -> pl.DataFrame | None:
    """Cases observed and expected, and runners passing stations, per 15-minute bucket, all stations together."""
    frame = for_race(station_load, race_id)
    if frame is None:
        return None
    return (
        frame.group_by("bucket_start_utc")
        .agg(pl.col("observed").sum(), pl.col("expected").fill_null(0.0).sum(), pl.col("runners_passed").sum(),
             pl.col("simulated").any())
        .sort("bucket_start_utc")
    )


def window_caption(expected: float | None, runners_passed: int | None) -> str:
    """What a window's report count is compared with, in words."""
    if expected is None:
        return "expected: not published yet (station_load_15m)"
    return f"expected {expected:.1f} · {runners_passed:,} runners passed stations"


def cleared_note(alert: dict, timezone_name: str | None = None) -> str | None:
    """"cleared at 13:42" (local time when a zone is given) for an unresolved alert whose condition cleared."""
    cleared = alert.get("cleared_at_utc")
    if cleared is None or alert.get("status") == "resolved":
        return None
    shown = cleared.astimezone(ZoneInfo(timezone_name)) if timezone_name else cleared
    return f"cleared at {shown:%H:%M} (still open for a human to resolve)"
