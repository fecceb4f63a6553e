"""Every mart, declared once: builder, inputs, grain, columns (with their checks), description.

A mart is what the medical director, the report and the analyst read. Each entry says:
- `build`: a function of the declared inputs (a small adapter over the pure transforms in
  this package), returning a frame; the engine (marts.build) collects it;
- `inputs`: analyst tables (landing.kinds views), other marts, and the state a mart carries
  over (`previous_alerts`); the live cycle recomputes a mart only when one of its inputs changed;
- `scope`: "all" (one computation over every race) or "race" (per race at its race clock);
- `grain`: the columns that identify a row (checked unique);
- `columns`: every output column with its type, meaning and allowed values (checked on every
  `racecramp marts --check`, and documented in docs/warehouse.md);
- `intervals`: (low, estimate, high) column triples whose order is checked;
- `point_columns`: columns holding a point_id, checked to be on the race's course.

Adding a mart is one entry here (a test checks the registry, the docs and the outputs agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Literal

import polars as pl

from racecramp.columns import UTC_DT, Column, schema_of
from racecramp.domain import Disposition, PointKind, WbgtFlag
from racecramp.validation.windows import WindowRules, race_windows

Frame = pl.DataFrame | pl.LazyFrame

# Inputs that are not analyst tables or marts: state read from the warehouse.
PREVIOUS_ALERTS = "previous_alerts"  # the alerts table as the last cycle left it
ALERT_ACTIONS = "alert_actions"  # stg_alert_actions (acknowledgements, resolutions)
QUARANTINE = "quarantine"
LANDING_LOG = "landing_log"  # when batches landed and how many records each held
STATE_INPUTS = (PREVIOUS_ALERTS, ALERT_ACTIONS, QUARANTINE, LANDING_LOG)


@dataclass(frozen=True)
class MartParams:
    """Settings the builders read (racecramp.config.Settings passes them)."""

    stale_after_s: float = 4500.0
    windows: WindowRules = WindowRules()
    weather_configured: bool = False  # Settings.weather_url is set: a race with no weather at all is then alerted


@dataclass
class Inputs:
    """What a builder sees: its input frames by name and, for per-race marts, the race and its clock."""

    frames: dict[str, pl.DataFrame]
    params: MartParams
    wall_utc: datetime
    race_id: str | None = None
    now_utc: datetime | None = None  # the race clock (marts.clock)
    race_start_utc: datetime | None = None

    def __getitem__(self, name: str) -> pl.DataFrame:
        return self.frames[name]

    def get(self, name: str) -> pl.DataFrame | None:
        return self.frames.get(name)


@dataclass(frozen=True)
class Mart:
    name: str
    description: str
    build: Callable[[Inputs], Frame | None]
    inputs: tuple[str, ...]
    grain: tuple[str, ...]
    columns: tuple[Column, ...]
    scope: Literal["all", "race"] = "all"
    intervals: tuple[tuple[str, str | None, str], ...] = ()  # (low, estimate or None, high)
    point_columns: tuple[str, ...] = ()
    # (what must hold, an expression true on every good row): checked by `racecramp marts --check`
    row_rules: tuple[tuple[str, pl.Expr], ...] = ()
    published: bool = True  # a snapshot and an analyst table (internal marts only feed others)
    # the live cycle reuses the stored result while it is younger than this many seconds
    # (0: recompute whenever an input changed); a full publish always recomputes
    refresh_after_s: float = 0.0
    # the live cycle rebuilds an urgent mart (what the command page shows: station load, alerts,
    # runner status, and what they read) as soon as its inputs change; the others at a bounded
    # cadence (publish.publisher.LiveCycle)
    urgent: bool = False

    @property
    def schema(self) -> dict[str, pl.DataType]:
        return schema_of(self.columns)

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.schema)


# --------------------------------------------------------------------------- shared columns

FLAGS = tuple(f.value for f in WbgtFlag)
NO_WEATHER = "no weather"  # marts.rates.NO_WEATHER: rows with no WBGT reading
POINT_KINDS = tuple(k.value for k in PointKind)
STATION_POINT_KINDS = (PointKind.AID_STATION.value, PointKind.MEDICAL_TENT.value)
RUNNER_STATUSES = ("not_started", "on_course", "finished", "dnf", "in_medical")
ALERT_SEVERITIES = ("info", "warning", "critical")
ALERT_STATUSES = ("open", "acknowledged", "resolved")
ALERT_RULES = ("station_load", "weather_flag_change", "stale_weather", "quarantine_spike")
DISPOSITIONS = tuple(d.value for d in Disposition)


def race_id() -> Column:
    return Column("race_id", pl.String, "the race edition", nullable=False)


RATE_UNITS = ("per 1000 starters", "per 1000 finishers", "per 1000 runners", "per 1000 runner-hours")


def rate_tail(numerator: str, denominator: str, unit: str = "runners") -> tuple[Column, ...]:
    """cases, runners, the rate per 1000 with its Wilson 95% CI, small_count, simulated, denominator_kind."""
    return (
        Column("cases", pl.Int64, numerator, nullable=False, ge=0),
        Column("runners", pl.Int64, denominator, nullable=False, ge=0),
        Column("rate_per_1000", pl.Float64, f"cases per 1000 {unit} (null when runners is 0)", ge=0),
        Column("ci_low_per_1000", pl.Float64, "Wilson 95% CI, lower bound (null when cases exceed runners or runners is 0)", ge=0),
        Column("ci_high_per_1000", pl.Float64, "Wilson 95% CI, upper bound", ge=0),
        Column("small_count", pl.Boolean, "fewer than 5 cases: read the rate with care", nullable=False),
        Column("simulated", pl.Boolean, "a contributing report, runner or reading is simulated", nullable=False),
        Column("denominator_kind", pl.String, "what `runners` counts, in words (`finishers …` when the roster holds "
               "finishers only: marts.counting.roster_holds)", nullable=False),
        Column("rate_unit", pl.String, "the rate's unit, as every label shows it", nullable=False, isin=RATE_UNITS),
    )


def _per_runner_hours(tail: tuple[Column, ...]) -> tuple[Column, ...]:
    """rate_tail for a person-time rate: runner_hours after runners, the Poisson interval named as such."""
    out = []
    for c in tail:
        if c.name == "ci_low_per_1000":
            c = Column(c.name, c.dtype, "exact Poisson 95% CI, lower bound (null when runner_hours is 0)", ge=0)
        elif c.name == "ci_high_per_1000":
            c = Column(c.name, c.dtype, "exact Poisson 95% CI, upper bound", ge=0)
        elif c.name == "rate_per_1000":
            c = Column(c.name, c.dtype, "cases per 1000 runner-hours (null when runner_hours is 0)", ge=0)
        out.append(c)
        if c.name == "runners":
            out.append(Column("runner_hours", pl.Float64, "runner-hours spent on course in the band: the denominator",
                              nullable=False, ge=0))
    return tuple(out)


# The unit a rate row shows names what its denominator counts ("per 1000 finishers" over "finishers …").
UNIT_NAMES_DENOMINATOR = ("rate_unit names what denominator_kind counts",
                          pl.col("denominator_kind").str.starts_with(pl.col("rate_unit").str.strip_prefix("per 1000 ")))
RATE_RULES = (UNIT_NAMES_DENOMINATOR,)


RATE_INTERVAL = (("ci_low_per_1000", "rate_per_1000", "ci_high_per_1000"),)
CASES = "cramp cases: distinct runners with a report in the row, plus each report without a bib"


def point_columns(kind_description: str = "the point's kind") -> tuple[Column, ...]:
    return (
        Column("point_id", pl.String, "the course point", nullable=False),
        Column("kind", pl.String, kind_description, isin=POINT_KINDS),
        Column("km", pl.Float64, "the point's km", ge=0),
    )


# --------------------------------------------------------------------------- builders


def _weather_heat(i: Inputs) -> Frame:
    from racecramp.marts.heat import with_heat

    return with_heat(i["weather_observations"].lazy())


def _exposure(i: Inputs) -> Frame:
    from racecramp.marts.exposure import exposure_by_point

    return exposure_by_point(i["passings"], i["participants"], i["course_points"])


def _by_distance(i: Inputs) -> Frame:
    from racecramp.marts.rates import cramp_rate_by_distance

    return cramp_rate_by_distance(i["cramp_reports"], i["exposure"], i["course_points"], roster=i["participants"])


def _by_station(i: Inputs) -> Frame:
    from racecramp.marts.rates import cramp_rate_by_station

    return cramp_rate_by_station(i["cramp_reports"], i["exposure"], roster=i["participants"])


def _by_pace_group(i: Inputs) -> Frame:
    from racecramp.marts.rates import cramp_rate_by_pace_group

    return cramp_rate_by_pace_group(i["cramp_reports"], i["participants"], i["passings"], i["races"])


def _by_wbgt(i: Inputs) -> Frame:
    from racecramp.marts.rates import cramp_rate_by_wbgt

    return cramp_rate_by_wbgt(i["cramp_reports"], i["exposure"], i["weather_heat"])


def _by_sex_age(i: Inputs) -> Frame:
    from racecramp.marts.rates import cramp_rate_by_sex_age

    return cramp_rate_by_sex_age(i["cramp_reports"], i["participants"])


def _station_load_15m(i: Inputs) -> Frame:
    from racecramp.marts.rates import station_load_15m

    return station_load_15m(i["cramp_reports"], i["exposure"], windows=race_windows(i["races"], i.params.windows))


def _slowdown_by_edition(i: Inputs) -> Frame:
    from racecramp.marts.slowdown import late_slowdown_by_edition

    return late_slowdown_by_edition(i["participants"], i["passings"])


def _slowdown_by_band(i: Inputs) -> Frame:
    from racecramp.marts.slowdown import late_slowdown_by_finish_band

    return late_slowdown_by_finish_band(i["participants"], i["passings"])


def _survey_risk_factors(i: Inputs) -> Frame:
    from racecramp.marts.survey import survey_risk_factors

    return survey_risk_factors(i["survey_responses"])


def _survey_rate_ratios(i: Inputs) -> Frame:
    from racecramp.marts.cohort import survey_rate_ratios

    return survey_rate_ratios(i["survey_responses"], i["passings"], i["participants"], i["course_points"],
                              i["weather_observations"], i.wall_utc)


def _station_forecast(i: Inputs) -> Frame:
    from racecramp.marts.forecast import station_forecast

    return station_forecast(i.now_utc, i["passings"], i["participants"], i["course_points"], i["weather_heat"],
                            reports=i["cramp_reports"]).with_columns(pl.lit(i.now_utc).cast(UTC_DT).alias("race_clock_utc"))


def _runner_status(i: Inputs) -> Frame:
    from racecramp.marts.locator import runner_status

    return runner_status(i.now_utc, i["participants"], i["passings"], i["cramp_reports"], i["course_points"]).with_columns(
        pl.lit(i.now_utc).cast(UTC_DT).alias("race_clock_utc")
    )


def _live_distress(i: Inputs) -> Frame:
    from racecramp.marts.slowdown import live_distress

    return live_distress(i["passings"], i["course_points"], i.now_utc)


def _alert_params(i: Inputs):
    from racecramp.marts.alerts import AlertParams

    return AlertParams(stale_after_s=i.params.stale_after_s, weather_configured=i.params.weather_configured)


def _station_load_30m(i: Inputs) -> Frame:
    from racecramp.marts.alerts import station_load

    return station_load(i.now_utc, i["cramp_reports"], i["exposure"], i["weather_heat"], race_id=i.race_id,
                        course_points=i["course_points"], participants=i["participants"], params=_alert_params(i))


def _alerts_evaluated(i: Inputs) -> Frame:
    from racecramp.marts.alerts import evaluate_alerts

    return evaluate_alerts(i.now_utc, i["cramp_reports"], i["exposure"], i["weather_heat"], i[QUARANTINE],
                           i.get(PREVIOUS_ALERTS), _alert_params(i), race_id=i.race_id,
                           course_points=i["course_points"], landed=i[LANDING_LOG], participants=i["participants"],
                           race_start_utc=i.race_start_utc)


def _alerts_with_actions(i: Inputs) -> tuple[pl.DataFrame, pl.DataFrame]:
    from racecramp.marts.alerts import apply_alert_actions, merge_alerts

    merged = merge_alerts(i.get(PREVIOUS_ALERTS), i["alerts_evaluated"])
    return apply_alert_actions(merged, i[ALERT_ACTIONS])


def _alerts(i: Inputs) -> Frame:
    return _alerts_with_actions(i)[0]


def _alert_actions_rejected(i: Inputs) -> Frame:
    return _alerts_with_actions(i)[1]


# --------------------------------------------------------------------------- the marts

RACE_CLOCK = Column("race_clock_utc", UTC_DT, "the race clock the row was computed at (latest report or passing)",
                    nullable=False)
ALERT_COLUMNS = (
    Column("alert_id", pl.String, "hash of race, rule, subject and window start: the same condition keeps its id",
           nullable=False),
    race_id(),
    Column("rule", pl.String, "which rule fired (docs/alerts.md)", nullable=False, isin=ALERT_RULES),
    Column("subject", pl.String, "what it is about: a point_id, `weather` or `quarantine`", nullable=False),
    Column("severity", pl.String, "how urgent", nullable=False, isin=ALERT_SEVERITIES),
    Column("opened_at_utc", UTC_DT, "race clock when it fired", nullable=False),
    Column("message", pl.String, "what a medical director reads", nullable=False),
    Column("observed", pl.Float64, "the observed value (reports, minutes, records)"),
    Column("expected", pl.Float64, "what the model expected (station_load), else null"),
    Column("p_value", pl.Float64, "Poisson upper-tail probability of the observed count (station_load)", ge=0, le=1),
    Column("status", pl.String, "lifecycle", nullable=False, isin=ALERT_STATUSES),
    Column("acknowledged_by", pl.String, "who acknowledged it"),
    Column("acknowledged_at_utc", UTC_DT, "when"),
    Column("resolved_by", pl.String, "who resolved it"),
    Column("resolved_at_utc", UTC_DT, "when"),
    Column("simulated", pl.Boolean, "fired on simulated data", nullable=False),
    Column("cleared_at_utc", UTC_DT, "race clock when the condition stopped holding (the alert stays for a human to "
           "resolve; null while it holds)"),
)

_MARTS = (
    Mart(
        name="weather_heat",
        urgent=True,
        description="Weather observations with relative humidity, the WBGT estimate, its method and inputs, and the ACSM flag.",
        build=_weather_heat,
        inputs=("weather_observations",),
        grain=("source", "location", "observed_at_utc"),
        columns=(
            Column("source", pl.String, "the feed", nullable=False),
            Column("location", pl.String, "station or place", nullable=False),
            Column("observed_at_utc", UTC_DT, "when observed", nullable=False),
            Column("temp_c", pl.Float64, "air temperature", nullable=False),
            Column("dew_point_c", pl.Float64, "dew point"),
            Column("rh_pct", pl.Float64, "relative humidity (given, or from the dew point)", ge=0, le=100),
            Column("wind_m_s", pl.Float64, "wind speed at 10 m as the feed gives it", ge=0),
            Column("conditions", pl.String, "sky text as given"),
            Column("race_id", pl.String, "race it was collected for"),
            Column("interpolated", pl.Boolean, "interpolated between real observations", nullable=False),
            Column("simulated", pl.Boolean, "simulated reading", nullable=False),
            Column("latitude_deg", pl.Float64, "where observed, degrees north", ge=-90, le=90),
            Column("longitude_deg", pl.Float64, "where observed, degrees east", ge=-180, le=180),
            Column("shortwave_w_m2", pl.Float64, "solar irradiance as the feed gives it", ge=0),
            Column("cloud_cover_pct", pl.Float64, "cloud cover as the feed gives it as a number", ge=0, le=100),
            Column("pressure_hpa", pl.Float64, "station pressure as the feed gives it"),
            Column("cloud_cover_used_pct", pl.Float64, "cloud cover used: the feed's number, else read from the sky text",
                   ge=0, le=100),
            Column("solar_zenith_deg", pl.Float64, "apparent solar zenith angle (pvlib)", ge=0, le=180),
            Column("solar_w_m2", pl.Float64, "global solar irradiance given to the Liljegren model", ge=0),
            Column("solar_source", pl.String, "where solar_w_m2 came from: `feed`, `pvlib_clearsky_x_cloud_cover`, "
                   "`pvlib_clearsky_x_sky_text` or `sun_below_horizon`"),
            Column("pressure_used_hpa", pl.Float64, "pressure given to the Liljegren model"),
            Column("pressure_source", pl.String, "`feed`, or `standard_atmosphere` at the site's elevation"),
            Column("wind_2m_m_s", pl.Float64, "the 10 m wind brought to 2 m by the Liljegren stability profile", ge=0),
            Column("globe_temp_c", pl.Float64, "modelled black-globe temperature (Liljegren)"),
            Column("natural_wet_bulb_c", pl.Float64, "modelled natural wet-bulb temperature (Liljegren)"),
            Column("fallback_reason", pl.String, "why the Liljegren model was not used (null when it was)"),
            Column("wbgt_c", pl.Float64, "estimated wet-bulb globe temperature (docs/heat.md)"),
            Column("wbgt_method", pl.String, "how wbgt_c was estimated: `liljegren`, or the fallback `bom_approx` or "
                   "`overcast_stull`"),
            Column("wbgt_flag", pl.String, "ACSM flag of wbgt_c", isin=FLAGS),
        ),
    ),
    Mart(
        name="exposure",
        urgent=True,
        description="One row per runner per point passed, with the (estimated) passing time: the denominators' source.",
        build=_exposure,
        inputs=("passings", "participants", "course_points"),
        grain=("race_id", "bib", "point_id"),
        columns=(
            race_id(),
            Column("point_id", pl.String, "a course point, or `start`", nullable=False),
            Column("kind", pl.String, "the point's kind, or `start`", nullable=False),
            Column("km", pl.Float64, "the point's km", nullable=False, ge=0),
            Column("bib", pl.String, "the runner", nullable=False),
            Column("passed_at_utc", UTC_DT, "when the runner passed (interpolated between mats)"),
            Column("net_time_s", pl.Float64, "chip time at the point"),
            Column("time_estimated", pl.Boolean, "true unless the runner's own passing of that point", nullable=False),
            Column("simulated", pl.Boolean, "the runner is simulated", nullable=False),
        ),
        published=False,
    ),
    Mart(
        name="cramp_rate_by_distance",
        description="Cramp cases per 1000 runners who entered each course segment between timing points.",
        build=_by_distance,
        inputs=("cramp_reports", "exposure", "course_points", "participants"),
        grain=("race_id", "segment"),
        columns=(
            race_id(),
            Column("segment", pl.String, "`10–15` (km), `40–finish`, `finish/after`, or `km unknown`", nullable=False),
            Column("segment_order", pl.Int64, "order along the course (km unknown last)", nullable=False),
            Column("from_point", pl.String, "the point that opens the segment (`start` for the first)"),
            Column("to_point", pl.String, "the point that closes it"),
            Column("from_km", pl.Float64, "km where the segment starts", ge=0),
            Column("to_km", pl.Float64, "km where it ends", ge=0),
            *rate_tail(CASES, "runners who entered the segment (passed its opening point)"),
        ),
        intervals=RATE_INTERVAL,
        row_rules=RATE_RULES,
    ),
    Mart(
        name="cramp_rate_by_station",
        description="Cramp cases per 1000 runners who passed each aid station and medical tent.",
        build=_by_station,
        inputs=("cramp_reports", "exposure", "participants"),
        grain=("race_id", "point_id"),
        columns=(race_id(), *point_columns(), *rate_tail(CASES, "runners who passed the point")),
        intervals=RATE_INTERVAL,
        point_columns=("point_id",),
        row_rules=RATE_RULES,
    ),
    Mart(
        name="cramp_rate_by_pace_group",
        description="Cramped runners per 1000 starters (or finishers) by declared-pace band, by pace relative to the "
                    "declared pace, and by observed first-half pace.",
        build=_by_pace_group,
        inputs=("cramp_reports", "participants", "passings", "races"),
        grain=("race_id", "grouping", "pace_group"),
        columns=(
            race_id(),
            Column("grouping", pl.String, "`declared_pace`, `relative_pace`, or `early_pace` (observed first-half pace: "
                   "the grouping for rosters without declared times)", nullable=False,
                   isin=("declared_pace", "relative_pace", "early_pace")),
            Column("pace_group", pl.String, "the band (min/km, or relative pace), `undeclared`, `no passing`, "
                   "`no first-half passing`", nullable=False),
            Column("band_order", pl.Int64, "order of the bands", nullable=False),
            *rate_tail("runners in the band with a bib-linked report", "starters in the band"),
        ),
        intervals=RATE_INTERVAL,
        row_rules=RATE_RULES,
    ),
    Mart(
        name="cramp_rate_by_wbgt",
        description="Cramp cases per 1000 runner-hours spent on course in each ACSM WBGT flag band (person-time at "
                    "risk, exact Poisson 95% CI).",
        build=_by_wbgt,
        inputs=("cramp_reports", "exposure", "weather_heat"),
        grain=("race_id", "wbgt_flag"),
        columns=(
            race_id(),
            Column("wbgt_flag", pl.String, "ACSM flag band, or `no weather`", nullable=False, isin=(*FLAGS, NO_WEATHER)),
            Column("wbgt_band", pl.String, "the band in °C", nullable=False),
            Column("band_order", pl.Int64, "white to black, then no weather", nullable=False),
            *_per_runner_hours(rate_tail(CASES, "runners on course at some time in the band", unit="runner-hours")),
        ),
        intervals=RATE_INTERVAL,
        row_rules=(*RATE_RULES,
                   ("a band nobody spent time in has no runners and no rate",
                    (pl.col("runner_hours") > 0) | ((pl.col("runners") == 0) & pl.col("rate_per_1000").is_null()))),
    ),
    Mart(
        name="cramp_rate_by_sex_age",
        description="Cramped runners per 1000 starters by sex and age band (bib-linked reports only).",
        build=_by_sex_age,
        inputs=("cramp_reports", "participants"),
        grain=("race_id", "sex", "age_band"),
        columns=(
            race_id(),
            Column("sex", pl.String, "as registered (null: unknown)", isin=("M", "F", "X")),
            Column("age_band", pl.String, "age band (null: unknown)"),
            *rate_tail("runners in the group with a bib-linked report", "starters in the group"),
        ),
        intervals=RATE_INTERVAL,
        row_rules=RATE_RULES,
    ),
    Mart(
        name="station_load_15m",
        urgent=True,
        description="Per station per 15-minute bucket: cramp cases observed against those expected (Poisson) and the "
                    "probability of at least that many.",
        build=_station_load_15m,
        inputs=("cramp_reports", "exposure", "races"),
        grain=("race_id", "point_id", "bucket_start_utc"),
        columns=(
            race_id(),
            *point_columns(),
            Column("bucket_start_utc", UTC_DT, "bucket start (quarter hour)", nullable=False),
            Column("bucket_end_utc", UTC_DT, "bucket end (exclusive)", nullable=False),
            Column("bucket_complete", pl.Boolean, "false for the bucket still running", nullable=False),
            Column("observed", pl.Int64, "cramp cases reported at the station in the bucket", nullable=False, ge=0),
            Column("runners_passed", pl.Int64, "runners passing the station in the bucket (not the cases' denominator: "
                   "a case may have passed earlier)", nullable=False, ge=0),
            Column("expected", pl.Float64, "runners_passed × the station's cases per passing runner over the race "
                   "(null when nobody passed it)", ge=0),
            Column("p_exceed", pl.Float64, "P(X >= observed | Poisson(expected)): small = more than expected", ge=0, le=1),
            Column("expected_basis", pl.String, "how `expected` is computed, in words", nullable=False),
            Column("simulated", pl.Boolean, "a contributing report or runner is simulated", nullable=False),
        ),
        point_columns=("point_id",),
        row_rules=(("nothing is expected where nobody passed", (pl.col("runners_passed") > 0) | (pl.col("expected") == 0)
                    | pl.col("expected").is_null()),
                   ("p_exceed is 1 when nothing was observed", (pl.col("observed") > 0) | (pl.col("p_exceed") == 1)
                    | pl.col("p_exceed").is_null())),
    ),
    Mart(
        name="late_slowdown_by_edition",
        description="Per race: finishers who ran 35→40 km more than 25% slower than their own 5→20 km.",
        build=_slowdown_by_edition,
        inputs=("participants", "passings"),
        grain=("race_id",),
        columns=(
            race_id(),
            Column("runners", pl.UInt32, "finishers with 5K, 20K, 35K and 40K passings", nullable=False),
            Column("slowed", pl.UInt32, "of them, late pace > 1.25 × early pace", nullable=False),
            Column("share", pl.Float64, "slowed / runners", ge=0, le=1),
            Column("ci_low", pl.Float64, "Wilson 95% CI of the share, lower bound", ge=0, le=1),
            Column("ci_high", pl.Float64, "upper bound", ge=0, le=1),
            Column("median_ratio", pl.Float64, "median late-to-early pace ratio"),
        ),
        intervals=(("ci_low", "share", "ci_high"),),
    ),
    Mart(
        name="late_slowdown_by_finish_band",
        description="As late_slowdown_by_edition, per 30-minute official finish-time band.",
        build=_slowdown_by_band,
        inputs=("participants", "passings"),
        grain=("race_id", "band_start_s"),
        columns=(
            race_id(),
            Column("finish_band", pl.String, "`3:00–3:30` …", nullable=False),
            Column("band_start_s", pl.Int64, "band start, seconds", nullable=False),
            Column("runners", pl.UInt32, "finishers in the band with the four splits", nullable=False),
            Column("slowed", pl.UInt32, "of them, slowed > 25% late", nullable=False),
            Column("share", pl.Float64, "slowed / runners", ge=0, le=1),
            Column("ci_low", pl.Float64, "Wilson 95% CI, lower bound", ge=0, le=1),
            Column("ci_high", pl.Float64, "upper bound", ge=0, le=1),
            Column("median_ratio", pl.Float64, "median late-to-early pace ratio"),
        ),
        intervals=(("ci_low", "share", "ci_high"),),
    ),
    Mart(
        name="survey_risk_factors",
        description="Per race and factor: survey respondents exposed/unexposed, how many cramped, odds ratio (Woolf CI).",
        build=_survey_risk_factors,
        inputs=("survey_responses",),
        grain=("race_id", "factor"),
        columns=(
            race_id(),
            Column("factor", pl.String, "the factor compared", nullable=False),
            Column("exposed_means", pl.String, "what exposed means, e.g. `weekly_km < 40`", nullable=False),
            Column("exposed_n", pl.Int64, "respondents exposed", nullable=False, ge=0),
            Column("exposed_cramped", pl.Int64, "of them, cramped", nullable=False, ge=0),
            Column("unexposed_n", pl.Int64, "respondents not exposed", nullable=False, ge=0),
            Column("unexposed_cramped", pl.Int64, "of them, cramped", nullable=False, ge=0),
            Column("prevalence_exposed", pl.Float64, "exposed_cramped / exposed_n", ge=0, le=1),
            Column("prevalence_unexposed", pl.Float64, "unexposed_cramped / unexposed_n", ge=0, le=1),
            Column("odds_ratio", pl.Float64, "odds of cramping, exposed vs unexposed (Haldane +0.5 on a zero cell)", ge=0),
            Column("or_ci_low", pl.Float64, "Woolf 95% CI, lower bound", ge=0),
            Column("or_ci_high", pl.Float64, "upper bound", ge=0),
            Column("simulated", pl.Boolean, "from simulated answers", nullable=False),
            Column("note", pl.String, "association, not causation", nullable=False),
        ),
        intervals=(("or_ci_low", "odds_ratio", "or_ci_high"),),
    ),
    Mart(
        name="survey_rate_ratios",
        description="Adjusted rate ratios of a first cramp per km at risk in survey respondents, pooled over races "
                    "(Poisson, offset log km at risk). Associations, not causes.",
        build=_survey_rate_ratios,
        inputs=("survey_responses", "passings", "participants", "course_points", "weather_observations"),
        grain=("term", "comparison"),
        columns=(
            Column("term", pl.String, "the factor: km band, heat, fast start, pace collapse, prior cramps, electrolytes",
                   nullable=False),
            Column("comparison", pl.String, "level vs reference", nullable=False),
            Column("rate_ratio", pl.Float64, "adjusted rate ratio", ge=0),
            Column("ci_low", pl.Float64, "95% CI, lower bound", ge=0),
            Column("ci_high", pl.Float64, "upper bound", ge=0),
            Column("p_value", pl.Float64, "Wald p", ge=0, le=1),
            Column("events", pl.Int64, "first cramps in the compared level", ge=0),
            Column("km_at_risk", pl.Float64, "km run at risk in the compared level", ge=0),
            Column("respondents", pl.Int64, "respondents in the model", ge=0),
            Column("simulated", pl.Boolean, "from simulated answers", nullable=False),
            Column("survey_rows", pl.Int64, "survey rows it was computed from (a later cycle reuses it while unchanged)",
                   nullable=False),
            Column("computed_at_utc", UTC_DT, "when computed", nullable=False),
        ),
        intervals=(("ci_low", "rate_ratio", "ci_high"),),
        # ~2 s for two 26,000-runner races: the live cycle reuses it for up to a minute
        refresh_after_s=60.0,
    ),
    Mart(
        name="station_forecast",
        description="Per station: runners arriving and expected cramp presentations in the next 30 and 60 minutes "
                    "(a projection, with a 90% Poisson interval).",
        build=_station_forecast,
        inputs=("passings", "participants", "course_points", "weather_heat", "cramp_reports"),
        grain=("race_id", "point_id"),
        scope="race",
        columns=(
            race_id(),
            Column("point_id", pl.String, "the station", nullable=False),
            Column("label", pl.String, "its name"),
            Column("km", pl.Float64, "its km", ge=0),
            Column("arrivals_next_30m", pl.Int64, "runners projected to arrive in the next 30 min", nullable=False, ge=0),
            Column("arrivals_next_60m", pl.Int64, "in the next 60 min", nullable=False, ge=0),
            Column("expected_cramps_next_30m", pl.Float64, "expected cramp presentations, next 30 min", nullable=False, ge=0),
            Column("expected_cramps_next_30m_lo", pl.Float64, "90% interval, low", ge=0),
            Column("expected_cramps_next_30m_hi", pl.Float64, "90% interval, high", ge=0),
            Column("expected_cramps_next_60m", pl.Float64, "expected cramp presentations, next 60 min", nullable=False, ge=0),
            Column("expected_cramps_next_60m_lo", pl.Float64, "90% interval, low", ge=0),
            Column("expected_cramps_next_60m_hi", pl.Float64, "90% interval, high", ge=0),
            Column("computed_at_utc", UTC_DT, "the race clock it projects from", nullable=False),
            Column("simulated", pl.Boolean, "from simulated runners", nullable=False),
            RACE_CLOCK,
        ),
        point_columns=("point_id",),
        # Poisson quantiles of a small mean can both be 0 below it, so only lo <= hi is checked
        intervals=(("expected_cramps_next_30m_lo", None, "expected_cramps_next_30m_hi"),
                   ("expected_cramps_next_60m_lo", None, "expected_cramps_next_60m_hi")),
    ),
    Mart(
        name="runner_status",
        urgent=True,
        description="One row per runner: last seen, projected position now, next mat and medical status (the locator).",
        build=_runner_status,
        inputs=("participants", "passings", "cramp_reports", "course_points"),
        grain=("race_id", "bib"),
        scope="race",
        columns=(
            race_id(),
            Column("bib", pl.String, "the runner", nullable=False),
            Column("status", pl.String, "where the runner is (docs/alerts.md)", nullable=False, isin=RUNNER_STATUSES),
            Column("last_point_id", pl.String, "latest timing point passed"),
            Column("last_km", pl.Float64, "its km", ge=0),
            Column("last_passed_at_utc", UTC_DT, "when"),
            Column("pace_s_per_km", pl.Float64, "latest segment pace", ge=0),
            Column("projected_km_now", pl.Float64, "where the runner should be at the race clock", ge=0),
            Column("next_point_id", pl.String, "next timing point ahead"),
            Column("next_point_km", pl.Float64, "its km", ge=0),
            Column("next_point_eta_utc", UTC_DT, "projected arrival there"),
            Column("overdue", pl.Boolean, "more than 45 min past the projected arrival", nullable=False),
            Column("report_count", pl.Int64, "medical cramp reports of the runner", nullable=False, ge=0),
            Column("last_report_at_utc", UTC_DT, "latest report"),
            Column("last_report_point_id", pl.String, "where"),
            Column("last_disposition", pl.String, "its disposition", isin=DISPOSITIONS),
            Column("simulated", pl.Boolean, "simulated runner or report", nullable=False),
            RACE_CLOCK,
        ),
        point_columns=("last_point_id", "next_point_id", "last_report_point_id"),
    ),
    Mart(
        name="live_distress",
        description="Runners on course whose latest segment pace is more than 1.25 × their own earlier pace.",
        build=_live_distress,
        inputs=("passings", "course_points"),
        grain=("race_id", "bib"),
        scope="race",
        columns=(
            race_id(),
            Column("bib", pl.String, "the runner", nullable=False),
            Column("last_point_id", pl.String, "latest passing", nullable=False),
            Column("last_km", pl.Float64, "its km", nullable=False, ge=0),
            Column("last_passed_at_utc", UTC_DT, "when", nullable=False),
            Column("latest_segment_pace_s_per_km", pl.Float64, "pace over the latest segment", ge=0),
            Column("baseline_pace_s_per_km", pl.Float64, "the runner's own earlier pace", ge=0),
            Column("baseline", pl.String, "which earlier pace: `5–20 km` or `start to previous passing`"),
            Column("slowdown_ratio", pl.Float64, "latest / baseline pace", ge=0),
            Column("estimated_km_now", pl.Float64, "where the runner is now, estimated", ge=0),
            Column("next_station_point_id", pl.String, "next aid station or tent"),
            Column("next_station_km", pl.Float64, "its km", ge=0),
            Column("next_station_label", pl.String, "its name"),
            Column("eta_next_station_utc", UTC_DT, "projected arrival there"),
        ),
        point_columns=("last_point_id", "next_station_point_id"),
    ),
    Mart(
        name="station_load_30m",
        urgent=True,
        description="Per station: cramp reports in the last 30 min against the hazard model's expectation, with the "
                    "Poisson tail probability (the station_load alert's numbers).",
        build=_station_load_30m,
        inputs=("cramp_reports", "exposure", "weather_heat", "course_points", "participants"),
        grain=("race_id", "point_id"),
        scope="race",
        columns=(
            race_id(),
            Column("point_id", pl.String, "the station", nullable=False),
            Column("label", pl.String, "its name"),
            Column("km", pl.Float64, "its km", ge=0),
            Column("window_start_utc", UTC_DT, "start of the 30-min window ending at the race clock", nullable=False),
            Column("observed", pl.Int64, "medical reports at the station in the window", nullable=False, ge=0),
            Column("expected", pl.Float64, "presentations the hazard model expects from the runners who passed", ge=0),
            Column("runners_passed", pl.Int64, "runners who passed the station in the window", nullable=False, ge=0),
            Column("p_value", pl.Float64, "P(X >= observed | Poisson(expected))", ge=0, le=1),
            Column("fires", pl.Boolean, "the station_load alert fires", nullable=False),
            Column("severity", pl.String, "when it fires", isin=ALERT_SEVERITIES),
            Column("simulated", pl.Boolean, "from simulated data", nullable=False),
        ),
        point_columns=("point_id",),
    ),
    Mart(
        name="alerts_evaluated",
        urgent=True,
        description="Alerts the rules raise at each race's clock, before the previous alerts and actions are applied.",
        build=_alerts_evaluated,
        inputs=("cramp_reports", "exposure", "weather_heat", QUARANTINE, PREVIOUS_ALERTS, "course_points", LANDING_LOG,
                "participants"),
        grain=("alert_id",),
        scope="race",
        columns=ALERT_COLUMNS,
        published=False,
    ),
    Mart(
        name="alerts",
        urgent=True,
        description="Live alerts with their lifecycle (open → acknowledged → resolved); never auto-resolved.",
        build=_alerts,
        inputs=("alerts_evaluated", PREVIOUS_ALERTS, ALERT_ACTIONS),
        grain=("alert_id",),
        columns=ALERT_COLUMNS,
        row_rules=(("an alert clears after it opened",
                    pl.col("cleared_at_utc").is_null() | (pl.col("cleared_at_utc") >= pl.col("opened_at_utc"))),),
    ),
    Mart(
        name="alert_actions_rejected",
        urgent=True,
        description="Alert actions that could not be applied (unknown alert, resolved already), with the reason.",
        build=_alert_actions_rejected,
        inputs=("alerts_evaluated", PREVIOUS_ALERTS, ALERT_ACTIONS),
        grain=("alert_id", "action", "at_utc"),
        columns=(
            Column("alert_id", pl.String, "the alert the action named", nullable=False),
            Column("action", pl.String, "acknowledge or resolve", nullable=False, isin=("acknowledge", "resolve")),
            Column("by", pl.String, "who sent it", nullable=False),
            Column("at_utc", UTC_DT, "when", nullable=False),
            Column("reason", pl.String, "why it was not applied", nullable=False),
        ),
    ),
)

MARTS: dict[str, Mart] = {m.name: m for m in _MARTS}


def mart(name: str) -> Mart:
    try:
        return MARTS[name]
    except KeyError:
        raise KeyError(f"no mart {name!r}; the marts are {', '.join(MARTS)}") from None


def published_marts() -> list[str]:
    return [m.name for m in MARTS.values() if m.published]


def build_order() -> list[Mart]:
    """Marts in dependency order (every mart after the marts it reads)."""
    done: list[str] = []
    pending = list(MARTS.values())
    while pending:
        progressed = False
        for m in list(pending):
            if all(i not in MARTS or i in done for i in m.inputs):
                done.append(m.name)
                pending.remove(m)
                progressed = True
        if not progressed:
            raise ValueError(f"mart inputs form a cycle: {', '.join(m.name for m in pending)}")
    return [MARTS[n] for n in done]


def downstream(changed: set[str]) -> set[str]:
    """Marts to recompute when the named tables or marts changed (transitively)."""
    out: set[str] = set()
    for m in build_order():
        if any(i in changed or i in out for i in m.inputs):
            out.add(m.name)
    return out


def table_inputs() -> set[str]:
    """Every analyst table or state input some mart reads (what the engine loads)."""
    return {i for m in MARTS.values() for i in m.inputs if i not in MARTS}
