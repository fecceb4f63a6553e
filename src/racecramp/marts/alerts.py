"""Live alerts for the medical command post, and their open → acknowledged → resolved lifecycle.

Rules (thresholds in AlertParams; reasons in docs/alerts.md):
- station_load: a station saw more cramp reports in the last 30 min than the hazard model
  expects from the runners who passed it in those 30 min: Poisson upper tail
  P(X >= observed | expected) < 0.01, and at least 3 reports (below 3, a "surge" is one
  busy volunteer, not a signal).
- weather_flag_change: the ACSM WBGT flag of the latest observation differs from the
  previous observation of the same feed.
- stale_weather: only from the race's start, and only for a race whose weather feed has
  reported or is configured: the latest observation is older than stale_after_s at now_utc, or
  (feed configured) there is no observation at all. A bulk import before the start, or of a
  race with no weather feed, raises none.
- quarantine_spike: more than 20 quarantined records in the last 10 min, or more than 10%
  of the records landed in those 10 min were quarantined (with at least 3 quarantined).

alert_id = hash(race_id, rule, subject, window start), so evaluating again at the same
now_utc gives the same ids. station_load, stale_weather and quarantine_spike describe a
condition: while an alert for the same rule and subject is open or acknowledged, no new
one is opened. A weather flag change is an event: each change opens its own alert. Alerts
are never auto-resolved: an open alert whose condition cleared stays open until a human
resolves it, so nobody misses an alert that fired and went quiet between two screen looks;
its `cleared_at_utc` says when its condition stopped holding (null again if it comes back).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import polars as pl
from scipy.stats import poisson

from racecramp.domain import WbgtFlag
from racecramp.marts.forecast import race_weather
from racecramp.marts.hazard import HazardParams, expected_presentations_per_runner, require_columns, station_catchments
from racecramp.marts.heat import asof_weather
from racecramp.marts.locator import MEDICAL_REPORT_SOURCES, check_now_utc, collect_if_lazy, finish_km_by_race

RULE_STATION_LOAD = "station_load"
RULE_WEATHER_FLAG_CHANGE = "weather_flag_change"
RULE_STALE_WEATHER = "stale_weather"
RULE_QUARANTINE_SPIKE = "quarantine_spike"
RULES = (RULE_STATION_LOAD, RULE_WEATHER_FLAG_CHANGE, RULE_STALE_WEATHER, RULE_QUARANTINE_SPIKE)
# Rules that describe a lasting condition: one unresolved alert per rule and subject.
CONDITION_RULES = (RULE_STATION_LOAD, RULE_STALE_WEATHER, RULE_QUARANTINE_SPIKE)

SUBJECT_WEATHER = "weather"
SUBJECT_QUARANTINE = "quarantine"

SEVERITY_INFO, SEVERITY_WARNING, SEVERITY_CRITICAL = "info", "warning", "critical"
STATUS_OPEN, STATUS_ACKNOWLEDGED, STATUS_RESOLVED = "open", "acknowledged", "resolved"
ACTION_ACKNOWLEDGE, ACTION_RESOLVE = "acknowledge", "resolve"

# Flag a change moves to -> alert severity. Red and black are where ACSM advises at-risk
# runners to stop or the race to be cancelled; white (< 10 °C) is hypothermia risk.
FLAG_CHANGE_SEVERITY = {
    WbgtFlag.BLACK.value: SEVERITY_CRITICAL,
    WbgtFlag.RED.value: SEVERITY_CRITICAL,
    WbgtFlag.YELLOW.value: SEVERITY_WARNING,
    WbgtFlag.WHITE.value: SEVERITY_WARNING,
    WbgtFlag.GREEN.value: SEVERITY_INFO,
}
# Same tolerance as heat.asof_weather: a runner's WBGT is interpolated between observations at most 90 min away.
WBGT_ASOF_TOLERANCE = "90m"

_UTC = pl.Datetime("us", "UTC")

ALERT_SCHEMA: dict[str, pl.DataType] = {
    "alert_id": pl.String,
    "race_id": pl.String,
    "rule": pl.String,
    "subject": pl.String,
    "severity": pl.String,
    "opened_at_utc": _UTC,
    "message": pl.String,
    "observed": pl.Float64,
    "expected": pl.Float64,
    "p_value": pl.Float64,
    "status": pl.String,
    "acknowledged_by": pl.String,
    "acknowledged_at_utc": _UTC,
    "resolved_by": pl.String,
    "resolved_at_utc": _UTC,
    "simulated": pl.Boolean,
    "cleared_at_utc": _UTC,
}
ACTION_SCHEMA: dict[str, pl.DataType] = {"alert_id": pl.String, "action": pl.String, "by": pl.String, "at_utc": _UTC}
REJECTED_SCHEMA: dict[str, pl.DataType] = {**ACTION_SCHEMA, "reason": pl.String}


@dataclass(frozen=True)
class AlertParams:
    """Thresholds of the alert rules (see module docstring and docs/alerts.md)."""

    station_window_s: float = 1800.0
    station_p_threshold: float = 0.01
    station_critical_p: float = 0.001
    station_min_observed: int = 3
    # Settings.weather_stale_after_s. The feeds we have (Open-Meteo, Visual Crossing, METAR)
    # report hourly, so a reading is normally up to 60 min old: stale = an hourly reading missed.
    stale_after_s: float = 4500.0
    # a weather feed is configured (Settings.weather_url): "no weather at all" after the start is
    # then an alert; without a feed configured, only a feed that has reported can go stale
    weather_configured: bool = False
    quarantine_window_s: float = 600.0
    quarantine_max_records: int = 20
    quarantine_max_share: float = 0.10
    quarantine_share_min_records: int = 3
    report_sources: tuple[str, ...] = MEDICAL_REPORT_SOURCES
    hazard: HazardParams = field(default_factory=HazardParams)


def empty_alerts() -> pl.DataFrame:
    """An alerts frame with no rows and the alert columns."""
    return pl.DataFrame(schema=ALERT_SCHEMA)


def alert_id_for(race_id: str, rule: str, subject: str, window_start_utc: datetime) -> str:
    """Deterministic id: the same rule, subject and window always give the same alert_id."""
    key = f"{race_id}|{rule}|{subject}|{window_start_utc.astimezone(timezone.utc).isoformat()}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _format_p(p: float) -> str:
    return "p<0.0001" if p < 0.0001 else f"p={p:.4f}"


def _hhmm(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%H:%M UTC")


def _alert(race_id: str, rule: str, subject: str, window_start_utc: datetime, now_utc: datetime, severity: str,
           message: str, observed: float | None = None, expected: float | None = None,
           p_value: float | None = None, simulated: bool = False) -> dict:
    return {
        "alert_id": alert_id_for(race_id, rule, subject, window_start_utc),
        "race_id": race_id,
        "rule": rule,
        "subject": subject,
        "severity": severity,
        "opened_at_utc": now_utc,
        "message": message,
        "observed": observed,
        "expected": expected,
        "p_value": p_value,
        "status": STATUS_OPEN,
        "acknowledged_by": None,
        "acknowledged_at_utc": None,
        "resolved_by": None,
        "resolved_at_utc": None,
        "simulated": simulated,
        "cleared_at_utc": None,
    }


def _with_relative_pace(exposure: pl.DataFrame, participants: pl.DataFrame | None,
                        course_points: pl.DataFrame) -> pl.DataFrame:
    if "relative_pace" in exposure.columns:
        return exposure
    if "relative_pace_so_far" in exposure.columns:
        return exposure.rename({"relative_pace_so_far": "relative_pace"})
    if participants is None:
        raise ValueError(
            "exposure_at_stations: no column 'relative_pace' (or 'relative_pace_so_far'); "
            "pass participants= so it can be computed from net_time_s and declared_finish_s"
        )
    require_columns(exposure, "exposure_at_stations", ("net_time_s", "km"))
    require_columns(participants, "participants", ("race_id", "bib", "declared_finish_s"))
    return (
        exposure.join(participants.select("race_id", "bib", "declared_finish_s"), on=["race_id", "bib"], how="left")
        .join(finish_km_by_race(course_points), on="race_id", how="left")
        .with_columns(
            relative_pace=pl.when(pl.col("km") > 0).then(
                (pl.col("net_time_s") / pl.col("km")) / (pl.col("declared_finish_s") / pl.col("finish_km"))
            )
        )
        .drop("declared_finish_s", "finish_km")
    )


def station_load(now_utc: datetime, reports: pl.DataFrame | pl.LazyFrame,
                 exposure_at_stations: pl.DataFrame | pl.LazyFrame,
                 weather_with_heat: pl.DataFrame | pl.LazyFrame | None, *, race_id: str,
                 course_points: pl.DataFrame | pl.LazyFrame, participants: pl.DataFrame | pl.LazyFrame | None = None,
                 params: AlertParams = AlertParams()) -> pl.DataFrame:
    """Per station, reports in the last window vs the modelled expectation, with the Poisson tail p.

    exposure_at_stations: one row per runner passing a station (transforms.exposure.
    exposure_by_point): race_id, bib, point_id, passed_at_utc, and relative_pace (or
    relative_pace_so_far, or net_time_s + km with `participants` to compute it).
    Columns: race_id, point_id, label, km, window_start_utc, observed, expected,
    runners_passed, p_value, fires, severity, simulated. Stations with neither runners nor
    reports have observed 0, expected 0, p_value 1.
    """
    check_now_utc(now_utc)
    reports = collect_if_lazy(reports)
    exposure = collect_if_lazy(exposure_at_stations)
    course_points = collect_if_lazy(course_points)
    require_columns(reports, "cramp_reports", ("race_id", "source", "point_id", "km", "reported_at_utc"))
    require_columns(exposure, "exposure_at_stations", ("race_id", "bib", "point_id", "passed_at_utc"))
    window_start = now_utc - timedelta(seconds=params.station_window_s)
    stations = station_catchments(course_points.filter(pl.col("race_id") == race_id))

    seen = reports.filter(
        (pl.col("race_id") == race_id)
        & pl.col("source").is_in(params.report_sources)
        & pl.col("point_id").is_not_null()
        & (pl.col("reported_at_utc") > window_start)
        & (pl.col("reported_at_utc") <= now_utc)
    )
    if "simulated" not in seen.columns:
        seen = seen.with_columns(simulated=pl.lit(False))
    observed = seen.group_by("point_id").agg(
        observed=pl.len().cast(pl.Int64), report_km=pl.col("km").mean(), simulated_reports=pl.col("simulated").any()
    )

    passed = exposure.filter(
        (pl.col("race_id") == race_id) & (pl.col("passed_at_utc") > window_start) & (pl.col("passed_at_utc") <= now_utc)
    )
    passed = _with_relative_pace(passed, None if participants is None else collect_if_lazy(participants), course_points)
    if "simulated" not in passed.columns:
        passed = passed.with_columns(simulated=pl.lit(False))
    events = passed.select(
        "race_id", "point_id", "bib", pl.col("passed_at_utc").cast(_UTC), pl.col("relative_pace").cast(pl.Float64),
        pl.col("simulated").fill_null(False).alias("simulated_runner"),
    ).join(stations.select("race_id", "point_id", "km", "catchment_km", "receives_finish_share"),
           on=["race_id", "point_id"], how="inner")
    series = (
        race_weather(weather_with_heat, race_id, now_utc).select("source", "observed_at_utc", "wbgt_c")
        if weather_with_heat is not None
        else pl.DataFrame(schema={"source": pl.String, "observed_at_utc": _UTC, "wbgt_c": pl.Float64})
    )
    events = asof_weather(events.lazy(), series.lazy(), "passed_at_utc", tolerance=WBGT_ASOF_TOLERANCE).collect()
    expected = (
        events.with_columns(
            expected_runner=expected_presentations_per_runner(
                "km", "relative_pace", "wbgt_c", "catchment_km", "receives_finish_share", params.hazard
            )
        )
        .group_by("point_id")
        .agg(
            expected=pl.col("expected_runner").sum(),
            runners_passed=pl.col("bib").n_unique().cast(pl.Int64),
            simulated_runners=pl.col("simulated_runner").any(),
        )
    )

    table = (
        stations.select("point_id", "label", "km")
        .join(observed, on="point_id", how="full", coalesce=True)
        .join(expected, on="point_id", how="left")
        .with_columns(
            race_id=pl.lit(race_id),
            label=pl.col("label").fill_null(pl.col("point_id")),
            km=pl.col("km").fill_null(pl.col("report_km")),
            window_start_utc=pl.lit(window_start, dtype=_UTC),
            observed=pl.col("observed").fill_null(0),
            expected=pl.col("expected").fill_null(0.0),
            runners_passed=pl.col("runners_passed").fill_null(0),
            simulated=pl.col("simulated_reports").fill_null(False) | pl.col("simulated_runners").fill_null(False),
        )
    )
    obs = table["observed"].to_numpy()
    exp = table["expected"].to_numpy()
    # P(X >= observed | Poisson(expected)) = sf(observed - 1); 1 when nothing was observed.
    p_values = [1.0 if o == 0 else float(poisson.sf(o - 1, e)) for o, e in zip(obs, exp)]
    return (
        table.with_columns(p_value=pl.Series(p_values, dtype=pl.Float64))
        .with_columns(
            fires=(pl.col("observed") >= params.station_min_observed) & (pl.col("p_value") < params.station_p_threshold)
        )
        .with_columns(
            severity=pl.when(~pl.col("fires"))
            .then(None)
            .when(pl.col("p_value") < params.station_critical_p)
            .then(pl.lit(SEVERITY_CRITICAL))
            .otherwise(pl.lit(SEVERITY_WARNING))
        )
        .select("race_id", "point_id", "label", "km", "window_start_utc", "observed", "expected", "runners_passed",
                "p_value", "fires", "severity", "simulated")
        .sort("km", "point_id", nulls_last=True)
    )


def _station_load_alerts(load: pl.DataFrame, now_utc: datetime, params: AlertParams) -> list[dict]:
    minutes = round(params.station_window_s / 60)
    alerts = []
    for row in load.filter(pl.col("fires")).iter_rows(named=True):
        where = f"{row['label']} ({row['km']:.1f} km)" if row["km"] is not None else row["label"]
        message = (
            f"{where}: {row['observed']} cramp reports in {minutes} min, "
            f"expected {row['expected']:.1f} from the {row['runners_passed']:,} runners who passed "
            f"({_format_p(row['p_value'])})"
        )
        alerts.append(
            _alert(row["race_id"], RULE_STATION_LOAD, row["point_id"], row["window_start_utc"], now_utc,
                   row["severity"], message, float(row["observed"]), row["expected"], row["p_value"],
                   row["simulated"])
        )
    return alerts


def _weather_alerts(now_utc: datetime, weather_with_heat: pl.DataFrame | pl.LazyFrame | None, race_id: str,
                    race_start_utc: datetime | None, params: AlertParams) -> list[dict]:
    if weather_with_heat is None:
        series = pl.DataFrame(schema={"source": pl.String, "observed_at_utc": _UTC})
    else:
        series = race_weather(weather_with_heat, race_id, now_utc)
        if "interpolated" in series.columns:  # an interpolated value is not a fresh reading
            series = series.filter(~pl.col("interpolated").fill_null(False))
    started = race_start_utc is None or now_utc >= race_start_utc
    if not started:
        return []  # before the start nothing is stale (a bulk import of the roster, the night before)
    if series.is_empty():
        if race_start_utc is not None and params.weather_configured:
            message = (f"No weather observation for {race_id} since the race started at {_hhmm(race_start_utc)}: "
                       "WBGT and flag are unknown")
            return [_alert(race_id, RULE_STALE_WEATHER, SUBJECT_WEATHER, race_start_utc, now_utc, SEVERITY_WARNING,
                           message)]
        return []
    sort_keys = ["observed_at_utc"] + [c for c in ("location",) if c in series.columns]
    series = series.sort(sort_keys)
    latest = series.row(-1, named=True)
    simulated = bool(latest.get("simulated") or False)
    alerts = []
    age_s = (now_utc - latest["observed_at_utc"]).total_seconds()
    if age_s > params.stale_after_s:
        message = (f"Weather is stale: the last observation ({latest['source']}, {_hhmm(latest['observed_at_utc'])}) "
                   f"is {age_s / 60:.0f} min old (limit {params.stale_after_s / 60:.0f} min)")
        alerts.append(_alert(race_id, RULE_STALE_WEATHER, SUBJECT_WEATHER, latest["observed_at_utc"], now_utc,
                             SEVERITY_WARNING, message, observed=age_s, simulated=simulated))
    same_feed = series.filter(pl.col("observed_at_utc") < latest["observed_at_utc"])
    if "location" in series.columns:
        same_feed = same_feed.filter(pl.col("location").eq_missing(latest["location"]))
    if same_feed.height:
        previous = same_feed.row(-1, named=True)
        before, after = previous["wbgt_flag"], latest["wbgt_flag"]
        if before is not None and after is not None and before != after:
            message = (f"WBGT flag {before} → {after}: WBGT {latest['wbgt_c']:.1f} °C at "
                       f"{_hhmm(latest['observed_at_utc'])} ({latest['source']}; was {previous['wbgt_c']:.1f} °C at "
                       f"{_hhmm(previous['observed_at_utc'])})")
            alerts.append(_alert(race_id, RULE_WEATHER_FLAG_CHANGE, SUBJECT_WEATHER, latest["observed_at_utc"],
                                 now_utc, FLAG_CHANGE_SEVERITY.get(after, SEVERITY_WARNING), message,
                                 observed=latest["wbgt_c"], simulated=simulated))
    return alerts


def _quarantine_alerts(now_utc: datetime, quarantine: pl.DataFrame | pl.LazyFrame | None,
                       landed: pl.DataFrame | pl.LazyFrame | None, race_id: str, params: AlertParams) -> list[dict]:
    if quarantine is None:
        return []
    quarantine = collect_if_lazy(quarantine)
    require_columns(quarantine, "quarantine", ("landed_at_utc",))
    window_start = now_utc - timedelta(seconds=params.quarantine_window_s)
    recent = quarantine.filter((pl.col("landed_at_utc") > window_start) & (pl.col("landed_at_utc") <= now_utc))
    # One record failing several checks has several quarantine rows; count records, not rows.
    record_key = [c for c in ("source", "batch_id", "record") if c in recent.columns]
    count = recent.select(record_key).n_unique() if record_key and recent.height else recent.height
    landed_total = None
    if landed is not None:
        landed = collect_if_lazy(landed)
        require_columns(landed, "landed", ("landed_at_utc", "record_count"))
        landed_total = int(
            landed.filter((pl.col("landed_at_utc") > window_start) & (pl.col("landed_at_utc") <= now_utc))[
                "record_count"
            ].sum()
        )
    share = count / landed_total if landed_total else None
    too_many = count > params.quarantine_max_records
    too_large_share = (
        share is not None and count >= params.quarantine_share_min_records and share > params.quarantine_max_share
    )
    if not (too_many or too_large_share):
        return []
    minutes = round(params.quarantine_window_s / 60)
    of_landed = f"{share:.0%} of {landed_total} landed" if share is not None else "landed count unknown"
    message = f"Quarantine: {count} records rejected in the last {minutes} min ({of_landed})"
    if "source" in recent.columns and recent.height:
        top = recent.group_by("source").agg(n=pl.len()).sort(["n", "source"], descending=[True, False]).row(0)
        message += f"; most from {top[0]} ({top[1]})"
    return [_alert(race_id, RULE_QUARANTINE_SPIKE, SUBJECT_QUARANTINE, window_start, now_utc, SEVERITY_WARNING,
                   message, observed=float(count))]


def evaluate_alerts(
    now_utc: datetime,
    reports: pl.DataFrame | pl.LazyFrame,
    exposure_at_stations: pl.DataFrame | pl.LazyFrame,
    weather_with_heat: pl.DataFrame | pl.LazyFrame | None,
    quarantine: pl.DataFrame | pl.LazyFrame | None,
    previous_alerts: pl.DataFrame | None = None,
    params: AlertParams = AlertParams(),
    *,
    race_id: str,
    course_points: pl.DataFrame | pl.LazyFrame,
    landed: pl.DataFrame | pl.LazyFrame | None = None,
    participants: pl.DataFrame | pl.LazyFrame | None = None,
    race_start_utc: datetime | None = None,
) -> pl.DataFrame:
    """Alerts that open at now_utc (status open); feed the result to merge_alerts.

    landed: (landed_at_utc, record_count) per landing batch, for the quarantine share; None
    turns the share test off. race_start_utc: when given, "no weather at all" after it is a
    stale_weather alert. Alerts already in previous_alerts, and condition alerts whose rule
    and subject already have an unresolved alert, are not returned again.
    """
    check_now_utc(now_utc)
    if race_start_utc is not None:
        check_now_utc(race_start_utc)
    load = station_load(now_utc, reports, exposure_at_stations, weather_with_heat, race_id=race_id,
                        course_points=course_points, participants=participants, params=params)
    rows = (
        _station_load_alerts(load, now_utc, params)
        + _weather_alerts(now_utc, weather_with_heat, race_id, race_start_utc, params)
        + _quarantine_alerts(now_utc, quarantine, landed, race_id, params)
    )
    new = pl.DataFrame(rows, schema=ALERT_SCHEMA, orient="row") if rows else empty_alerts()
    previous = _as_alerts(previous_alerts, "previous_alerts")
    unresolved = previous.filter(
        (pl.col("status") != STATUS_RESOLVED) & pl.col("rule").is_in(CONDITION_RULES)
    )
    keys = ["race_id", "rule", "subject"]
    opened = (
        new.join(previous.select("alert_id"), on="alert_id", how="anti")
        .join(unresolved.select(keys), on=keys, how="anti")
        .unique("alert_id", keep="first", maintain_order=True)
    )
    # the race's unresolved condition alerts again, with when their condition cleared (null while it holds)
    firing = new.filter(pl.col("rule").is_in(CONDITION_RULES)).select(keys).unique().with_columns(pl.lit(True).alias("_firing"))
    clearing = (
        unresolved.filter(pl.col("race_id") == race_id)
        .join(firing, on=keys, how="left")
        .with_columns(
            pl.when(pl.col("_firing").fill_null(False)).then(pl.lit(None, _UTC))
            .otherwise(pl.coalesce("cleared_at_utc", pl.lit(now_utc).cast(_UTC))).alias("cleared_at_utc")
        )
        .select(list(ALERT_SCHEMA))
    )
    return pl.concat([opened, clearing])


def _as_alerts(alerts: pl.DataFrame | pl.LazyFrame | None, name: str) -> pl.DataFrame:
    if alerts is None:
        return empty_alerts()
    alerts = collect_if_lazy(alerts)
    if "cleared_at_utc" not in alerts.columns:  # alerts stored before cleared_at_utc existed
        alerts = alerts.with_columns(pl.lit(None, _UTC).alias("cleared_at_utc"))
    require_columns(alerts, name, tuple(ALERT_SCHEMA))
    return alerts.select(pl.col(c).cast(t) for c, t in ALERT_SCHEMA.items())


def merge_alerts(previous: pl.DataFrame | None, new_evaluation: pl.DataFrame) -> pl.DataFrame:
    """Previous alerts (their lifecycle state kept, cleared_at_utc as the evaluation says) plus new alerts.

    Nothing is auto-resolved: an alert whose condition cleared stays open until a human
    resolves it with apply_alert_actions; it only says when it cleared.
    """
    old = _as_alerts(previous, "previous")
    evaluated = _as_alerts(new_evaluation, "new_evaluation")
    cleared = evaluated.join(old.select("alert_id"), on="alert_id", how="semi").select(
        "alert_id", pl.col("cleared_at_utc").alias("_cleared"), pl.lit(True).alias("_seen"))
    old = old.join(cleared, on="alert_id", how="left").with_columns(
        pl.when(pl.col("_seen").fill_null(False)).then(pl.col("_cleared")).otherwise(pl.col("cleared_at_utc"))
        .alias("cleared_at_utc")
    ).select(list(ALERT_SCHEMA))
    new = evaluated.join(old.select("alert_id"), on="alert_id", how="anti")
    return pl.concat([old, new.unique("alert_id", keep="first", maintain_order=True)]).sort(
        "opened_at_utc", "alert_id", maintain_order=True
    )


def apply_alert_actions(alerts: pl.DataFrame, actions: pl.DataFrame | pl.LazyFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Apply acknowledge/resolve actions in at_utc order; return (alerts, rejected actions with reason).

    open → acknowledged → resolved; resolve also from open. Repeating an action (same alert,
    action and person) changes nothing and is not rejected, so a retried request is safe.
    Rejected: unknown alert_id, unknown action, missing by/at_utc, any other action on a
    resolved alert, and acknowledging an alert someone else already acknowledged.
    """
    current = _as_alerts(alerts, "alerts")
    actions = collect_if_lazy(actions)
    require_columns(actions, "actions", tuple(ACTION_SCHEMA))
    state = {row["alert_id"]: row for row in current.iter_rows(named=True)}
    rejected = []
    ordered = actions.select(pl.col(c).cast(t) for c, t in ACTION_SCHEMA.items()).with_row_index("_row").sort(
        "at_utc", "_row", nulls_last=True
    )
    for act in ordered.drop("_row").iter_rows(named=True):
        reason = _apply_one(state, act)
        if reason is not None:
            rejected.append({**act, "reason": reason})
    updated = pl.DataFrame(list(state.values()), schema=ALERT_SCHEMA, orient="row") if state else empty_alerts()
    rejected_frame = pl.DataFrame(rejected, schema=REJECTED_SCHEMA, orient="row") if rejected else pl.DataFrame(
        schema=REJECTED_SCHEMA
    )
    return updated, rejected_frame


def _apply_one(state: dict[str, dict], act: dict) -> str | None:
    """Apply one action to state in place; return the rejection reason, or None when accepted."""
    alert_id, action, by, at = act["alert_id"], act["action"], act["by"], act["at_utc"]
    if action not in (ACTION_ACKNOWLEDGE, ACTION_RESOLVE):
        return f"action={action!r} is not one of {ACTION_ACKNOWLEDGE!r}, {ACTION_RESOLVE!r}"
    if alert_id not in state:
        return f"alert_id={alert_id!r} is not a known alert"
    if by is None or not by.strip():
        return f"{action} of alert {alert_id}: by is empty; expected the person or station acting"
    if at is None:
        return f"{action} of alert {alert_id}: at_utc is null; expected the time of the action"
    alert = state[alert_id]
    if alert["status"] == STATUS_RESOLVED:
        if action == ACTION_RESOLVE and alert["resolved_by"] == by:
            return None  # the same resolve again: nothing changes
        return (f"{action} of alert {alert_id} rejected: it was resolved by {alert['resolved_by']} "
                f"at {alert['resolved_at_utc'].isoformat()}")
    if action == ACTION_ACKNOWLEDGE:
        if alert["status"] == STATUS_ACKNOWLEDGED:
            if alert["acknowledged_by"] == by:
                return None
            return (f"acknowledge of alert {alert_id} rejected: already acknowledged by "
                    f"{alert['acknowledged_by']} at {alert['acknowledged_at_utc'].isoformat()}")
        alert.update(status=STATUS_ACKNOWLEDGED, acknowledged_by=by, acknowledged_at_utc=at)
        return None
    alert.update(status=STATUS_RESOLVED, resolved_by=by, resolved_at_utc=at)
    return None
